package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"walship/engine/cluster"
	"walship/engine/pg"
	"walship/engine/wal"
	"walship/scenario"
	"walship/theme"
)

// Checks and parsers for the flags the commands share, so that each
// complaint reads the same whichever command it comes from.

func checkFollowers(n int) error {
	if n < 1 || n > cluster.MaxFollowers {
		return badFlag("followers", n, fmt.Sprintf("1 to %d followers", cluster.MaxFollowers))
	}
	return nil
}

// parseSegmentSize reads --segment-size: a size that holds the largest
// record.
func parseSegmentSize(text string) (int64, error) {
	n, err := cluster.ParseSize(text)
	if err != nil || n < wal.MaxRecordSize {
		return 0, badFlag("segment-size", text, fmt.Sprintf("a size of at least %s (the largest record), like 16KiB or 1MiB", cluster.FormatSize(wal.MaxRecordSize)))
	}
	return n, nil
}

// parseSize reads a size flag, like 128KiB.
func parseSize(flag, text string) (int64, error) {
	n, err := cluster.ParseSize(text)
	if err != nil {
		return 0, badFlag(flag, text, "a size like 128KiB or 1MiB")
	}
	return n, nil
}

// syncModes are synchronous_commit's settings, weakest first.
func syncModes() []string {
	var names []string
	for m := cluster.SyncOff; m <= cluster.SyncRemoteApply; m++ {
		names = append(names, m.String())
	}
	return names
}

// parseSync reads --sync with the command language's parser: a mode and,
// for the remote modes, ANY N (1 when it is not given).
func parseSync(text string) (cluster.SyncRule, error) {
	c, err := cluster.ParseCommand("sync " + text)
	if err != nil || c.N > cluster.MaxFollowers {
		return cluster.SyncRule{}, badFlag("sync", text, fmt.Sprintf(`%s, with ANY N for the remote modes, N from 1 to %d ("remote_apply 1")`,
			strings.Join(syncModes(), ", "), cluster.MaxFollowers))
	}
	return cluster.SyncRule{Mode: c.Mode, N: int(c.N)}, nil
}

// loadScenario loads --scenario to play on backend b (scenario.LoadFor:
// on PostgreSQL, basic is basic-pg). A name that is no lesson and no
// file, an unreadable file, a syntax error, a scenario not written for b
// or with nothing to play, and on PostgreSQL a command walship pg cannot
// run, are all usage errors.
func loadScenario(nameOrPath string, b scenario.Backend) (*scenario.Scenario, error) {
	sc, err := scenario.LoadFor(nameOrPath, b)
	if err != nil {
		return nil, usageError{err}
	}
	steps := 0
	for _, st := range sc.Setup {
		steps += btoi(st.Kind != scenario.StepSay)
	}
	for _, ch := range sc.Chapters {
		for _, st := range ch.Steps {
			steps += btoi(st.Kind != scenario.StepSay)
		}
	}
	if steps == 0 {
		return nil, usagef("%s: no commands and no expect lines: nothing to play", sc.File)
	}
	if b == scenario.BackendPG {
		if err := pgCommands(sc); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// pgCommands refuses a scenario for PostgreSQL with a command walship pg
// cannot run, before any server starts.
func pgCommands(sc *scenario.Scenario) error {
	parts := [][]scenario.Step{sc.Setup}
	for _, ch := range sc.Chapters {
		parts = append(parts, ch.Steps)
	}
	for _, lines := range parts {
		for _, st := range lines {
			if why := pg.Refusal(st.Command.Verb); st.Kind == scenario.StepCommand && why != "" {
				return usagef("%s:%d: %s: not on PostgreSQL: %s", sc.File, st.Line, st.Source, why)
			}
		}
	}
	return nil
}

// Completion of flag values, for the shell completions cobra generates
// (walship completion bash|zsh|fish|powershell).

// completeWords completes from a fixed list.
func completeWords(words ...string) cobra.CompletionFunc {
	return cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp)
}

// completeExt completes file names with one of these extensions.
func completeExt(exts ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return exts, cobra.ShellCompDirectiveFilterFileExt
	}
}

func completeDirs(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

func followerCounts() []string {
	var n []string
	for i := 1; i <= cluster.MaxFollowers; i++ {
		n = append(n, strconv.Itoa(i))
	}
	return n
}

func lessonNames() []string {
	var names []string
	for _, info := range scenario.Builtins() {
		names = append(names, info.Name)
	}
	return names
}

// completeScenario offers the built-in lessons and, beside them, the
// directories and *.scn files that start with what was typed (the shells'
// own file completion cannot be mixed with a list of words).
func completeScenario(_ *cobra.Command, _ []string, typed string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	if !strings.ContainsAny(typed, `/\`) {
		for _, info := range scenario.Builtins() {
			if strings.HasPrefix(info.Name, typed) {
				out = append(out, cobra.CompletionWithDesc(info.Name, info.Summary))
			}
		}
	}
	directive := cobra.ShellCompDirectiveNoFileComp
	matches, _ := filepath.Glob(typed + "*")
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.IsDir() {
			out = append(out, m+string(filepath.Separator))
			directive |= cobra.ShellCompDirectiveNoSpace // go on into it
		} else if strings.HasSuffix(m, ".scn") {
			out = append(out, m)
		}
	}
	return out, directive
}

// registerCompletions attaches value completions to the flags a command
// has, by name.
func registerCompletions(cmd *cobra.Command) {
	funcs := map[string]cobra.CompletionFunc{
		"followers":      completeWords(followerCounts()...),
		"standbys":       completeWords(followerCounts()...),
		"bindir":         completeDirs,
		"theme":          completeWords(theme.Names()...),
		"sync":           completeWords(syncModes()...),
		"fsync":          completeWords("on", "off"),
		"format":         completeWords(benchFormats...),
		"scenario":       completeScenario,
		"record":         completeExt("cast"),
		"record-session": completeExt("walship"),
		"save-scenario":  completeExt("scn"),
		"data":           completeDirs,
	}
	for name, f := range funcs {
		if cmd.Flags().Lookup(name) != nil {
			// Only fails for a flag that does not exist or is registered twice.
			_ = cmd.RegisterFlagCompletionFunc(name, f)
		}
	}
}

// themeUsage is --theme's help.
var themeUsage = "colour theme: " + strings.Join(theme.Names(), ", ") + " (auto fits the terminal's background; NO_COLOR makes auto mono)"

// themeFlag checks --theme and returns the theme to draw with. NO_COLOR
// changes only the default: auto becomes mono, while a theme asked for by
// name is drawn as asked.
func themeFlag(name string) (string, error) {
	if _, err := theme.ByName(name); err != nil {
		return "", badFlag("theme", name, "one of "+strings.Join(theme.Names(), ", "))
	}
	if theme.IsAuto(name) && os.Getenv("NO_COLOR") != "" {
		return "mono", nil
	}
	return name, nil
}
