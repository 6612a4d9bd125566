"""Command lines of kit's Bazel actions, as plain data.

Nothing here touches Bazel's API (no ctx, no File): the rules in
//bazel:kit.bzl pass paths in and run what comes out, and testing/bazel
evaluates this very file with go.starlark.net, compares the result with a
golden file and runs the commands as kit invocations. Keep it to the Starlark
that Bazel and go.starlark.net share.
"""

load(":formats.bzl", "BUILTIN_FORMATS", "PLUGIN_FORMATS")

# HOME and XDG_DATA_HOME point nowhere: kit finds no user plugins, no
# registry credentials (~/.docker/config.json) and no default cache there,
# and anything that tried to write under them would fail instead of writing
# outside the declared outputs.
NO_HOME = "/nonexistent/kit-home"

def shell_quote(s):
    """Quotes s for a POSIX shell."""
    return "'" + s.replace("'", "'\\''") + "'"

def lock_path(spec):
    """The lock file kit keeps beside a spec (core/steps/fetch.LockPath).

    Args:
      spec: a spec's path or label ("x.yml", ":x.yml", "//d:x.yml").

    Returns:
      The lock's path or label: the spec's with its extension (.yml, .yaml,
      .hcl, .json, any case) replaced by .lock.
    """
    name = spec.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    if "." in name:
        stem, ext = name.rsplit(".", 1)
        if ext.lower() in ["yml", "yaml", "hcl", "json"]:
            return spec[:len(spec) - len(name)] + stem + ".lock"
    return spec + ".lock"

def _script(argvs):
    lines = ["set -eu"]
    for argv in argvs:
        lines.append(" ".join([shell_quote(a) for a in argv]))
    return "\n".join(lines) + "\n"

def _env(source_date_epoch, plugin_dirs):
    env = {
        "HOME": NO_HOME,
        "SOURCE_DATE_EPOCH": str(source_date_epoch),
        "XDG_DATA_HOME": NO_HOME,
    }
    if plugin_dirs:
        env["KIT_PLUGIN_PATH"] = ":".join(plugin_dirs)
    return env

def _check_epoch(source_date_epoch):
    if type(source_date_epoch) != "int" or source_date_epoch < 0:
        fail("source_date_epoch %r: want a whole number of seconds >= 0" % (source_date_epoch,))

def kit_system_outputs(name, formats, format_outputs = {}):
    """The file names (relative to the output directory) kit build writes.

    Args:
      name: the base name of the outputs (kit build --name).
      formats: the formats, in kit build -f order.
      format_outputs: suffixes of formats this file does not know.

    Returns:
      The names, in format order, each once.
    """
    if not formats:
        fail("kit_system %s: no formats" % name)
    seen = {}
    outs = []
    for f in formats:
        if f in format_outputs:
            suffixes = format_outputs[f]
        elif f in BUILTIN_FORMATS:
            suffixes = BUILTIN_FORMATS[f]
        elif f in PLUGIN_FORMATS:
            suffixes = PLUGIN_FORMATS[f][1]
        else:
            fail("kit_system %s: format %r is neither built in nor served by kit's plugins: give its output suffixes in format_outputs (kit plugin describe PLUGIN)" % (name, f))
        if not suffixes:
            fail("kit_system %s: format %r writes no file" % (name, f))
        for s in suffixes:
            out = name + s
            if out not in seen:
                seen[out] = True
                outs.append(out)
    return outs

def kit_system_plugins(formats):
    """The plugins of kit's own that the formats need.

    Args:
      formats: the formats to build.

    Returns:
      The plugin names (kit-plugin-NAME), sorted.
    """
    names = []
    for f in formats:
        if f in PLUGIN_FORMATS and PLUGIN_FORMATS[f][0] not in names:
            names.append(PLUGIN_FORMATS[f][0])
    return sorted(names)

def kit_system_commands(
        kit,
        name,
        specs,
        formats,
        out_dir,
        cache_dir,
        images = [],
        arch = "amd64",
        source_date_epoch = 0,
        mirrors = {},
        format_config = {},
        disk_size = "",
        plugin_dirs = []):
    """The commands of a kit_system action.

    Args:
      kit: path of the kit binary.
      name: base name of the outputs (--name).
      specs: spec paths, in merge order; the lock file beside the first is
        an input and is never rewritten (--locked).
      formats: output formats (-f, in order).
      out_dir: the directory the declared outputs are in (-o).
      cache_dir: a declared directory, empty when the action starts: kit's
        cache for this one action (--cache).
      images: OCI layout directories or docker-save tarballs (kit_package
        outputs, other image files) imported into the cache first, so a
        locked reference to them needs no registry.
      arch: --arch.
      source_date_epoch: timestamp of every file in the artifacts.
      mirrors: registry → mirror URL (--mirror), the only network the
        action is meant to use.
      format_config: format → path of a JSON file (--format-config F=@FILE).
      disk_size: --disk-size, "" for kit's default.
      plugin_dirs: directories of the plugin binaries ($KIT_PLUGIN_PATH).

    Returns:
      A struct with argv (a list of argument lists, run in order), env and
      script (the argvs as one sh script that stops at the first failure).
    """
    if not specs:
        fail("kit_system %s: no spec" % name)
    _check_epoch(source_date_epoch)
    argvs = []
    for img in images:
        argvs.append([kit, "cache", "import", "--cache", cache_dir, img])
    build = [
        kit,
        "build",
        "--cache",
        cache_dir,
        "--locked",
        "--progress",
        "plain",
        "--arch",
        arch,
        "--source-date-epoch",
        str(source_date_epoch),
        "--dir",
        out_dir,
        "--name",
        name,
    ]
    for f in formats:
        build += ["--format", f]
    for f in sorted(format_config.keys()):
        build += ["--format-config", f + "=@" + format_config[f]]
    if disk_size:
        build += ["--disk-size", disk_size]
    for reg in sorted(mirrors.keys()):
        build += ["--mirror", reg + "=" + mirrors[reg]]
    build += list(specs)
    argvs.append(build)
    return struct(
        argv = argvs,
        env = _env(source_date_epoch, plugin_dirs),
        script = _script(argvs),
    )

def kit_package_commands(
        kit,
        pkg_dir,
        layout_dir,
        cache_dir,
        arch = "amd64",
        source_date_epoch = 0):
    """The commands of a kit_package action.

    Args:
      kit: path of the kit binary.
      pkg_dir: the directory holding pkg.yml (and pkg.lock, files).
      layout_dir: the declared output directory: the package image as an
        OCI image layout (what kit_system imports).
      cache_dir: a declared directory, empty when the action starts.
      arch: --arch.
      source_date_epoch: timestamp of every file and of the image.

    Returns:
      A struct with argv, env and script, as kit_system_commands.
    """
    _check_epoch(source_date_epoch)
    argvs = [
        [
            kit,
            "pkg",
            "build",
            "--cache",
            cache_dir,
            "--locked",
            "--progress",
            "plain",
            "--arch",
            arch,
            "--source-date-epoch",
            str(source_date_epoch),
            pkg_dir,
        ],
        [kit, "cache", "export", "--cache", cache_dir, "--format", "oci", layout_dir],
    ]
    return struct(
        argv = argvs,
        env = _env(source_date_epoch, []),
        script = _script(argvs),
    )
