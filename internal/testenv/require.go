package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireToolsEnv names the environment variable under which a test that
// would skip for lack of root or of an external tool fails instead. CI
// (.ci/run) sets it so that it cannot be green without every test having run.
const RequireToolsEnv = "FLIGHTREC_REQUIRE_TOOLS"

// Strict reports whether missing root or tools must fail tests
// (FLIGHTREC_REQUIRE_TOOLS=1).
func Strict() bool { return os.Getenv(RequireToolsEnv) == "1" }

// SkipOrFail skips the test with reason, or fails it when Strict.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if Strict() {
		t.Fatalf("%s (%s=1: a missing prerequisite fails instead of skipping)", reason, RequireToolsEnv)
	}
	t.Skip(reason)
}

// RequireTool returns the path of the executable name, or skips the test
// (fails it when Strict) naming why it is needed.
func RequireTool(t testing.TB, name, why string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		SkipOrFail(t, name+" not installed: "+why+" (.ci/run installs it)")
	}
	return path
}
