package client

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hostLogger is the hclog.Logger go-plugin logs to. go-plugin writes the
// plugin's JSON log lines to it under the sub-logger named after the
// binary (pluginName); everything else is go-plugin's own.
func (c *Client) hostLogger(pluginName string, log LogFunc) hclog.Logger {
	l := hclog.NewInterceptLogger(&hclog.LoggerOptions{Level: hclog.Trace, Output: io.Discard})
	l.RegisterSink(&sink{pluginName: pluginName, log: log, client: c})
	return l
}

type sink struct {
	pluginName string
	log        LogFunc
	client     *Client
}

var _ hclog.SinkAdapter = (*sink)(nil)

func (s *sink) Accept(name string, level hclog.Level, msg string, args ...any) {
	fields := fieldsOf(args)
	if name != s.pluginName {
		// go-plugin's own: remember how the process ended; pass on
		// only warnings and errors.
		if msg == "plugin process exited" {
			if e, ok := fields["error"]; ok {
				s.client.setExit(fmt.Sprint(e))
			}
		}
		if level < hclog.Warn || s.log == nil {
			return
		}
		fields["source"] = "go-plugin"
	}
	if s.log != nil {
		s.log(levelName(level), msg, fields)
	}
}

// pluginLogger is the logger an in-process plugin logs to: straight to log,
// fields passed through JSON so they look as they would from a process.
func pluginLogger(log LogFunc) hclog.Logger {
	if log == nil {
		return hclog.NewNullLogger()
	}
	l := hclog.NewInterceptLogger(&hclog.LoggerOptions{Level: hclog.Trace, Output: io.Discard})
	l.RegisterSink(&inProcessSink{log: log})
	return l
}

type inProcessSink struct{ log LogFunc }

func (s *inProcessSink) Accept(_ string, level hclog.Level, msg string, args ...any) {
	fields := fieldsOf(args)
	if b, err := json.Marshal(fields); err == nil {
		var round map[string]any
		if json.Unmarshal(b, &round) == nil {
			fields = round
		}
	}
	s.log(levelName(level), msg, fields)
}

func levelName(l hclog.Level) string {
	switch l {
	case hclog.Trace:
		return "trace"
	case hclog.Debug, hclog.NoLevel:
		return "debug"
	case hclog.Info:
		return "info"
	case hclog.Warn:
		return "warn"
	default:
		return "error"
	}
}

// fieldsOf turns hclog's key/value list into a map, leaving out hclog's
// own keys ("@module", "timestamp", ...).
func fieldsOf(args []any) map[string]any {
	m := make(map[string]any, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		k := fmt.Sprint(args[i])
		if strings.HasPrefix(k, "@") || k == "timestamp" {
			continue
		}
		v := args[i+1]
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		m[k] = v
	}
	return m
}
