// Package tarutil holds the small helpers every step uses to read and write
// kit's normalized tar (docs/engine.md, "The normalized tar"): name checks,
// header normalization with SOURCE_DATE_EPOCH clamping, a Writer that refuses
// out-of-order entries, and Verify, which checks a whole stream.
package tarutil
