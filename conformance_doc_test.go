package smartgate_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var (
	testFuncRE  = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Za-z0-9_]+)\(`)
	quotedRE    = regexp.MustCompile(`"([^"\\\n]*)"`)
	tableRowRE  = regexp.MustCompile(`^\|\s*([A-Z]+[0-9]+)\s*\|([^|]*)\|([^|]*)\|\s*$`)
	backtickRE  = regexp.MustCompile("`([^`]+)`")
	checklistRE = regexp.MustCompile(`(?m)^((?:DCR|[A-Z])[0-9]+)\.`)
)

// testIndex is every Go test and fuzz function of the repository with the
// file it is in, and the quoted strings of each test file (subtest names).
type testIndex struct {
	funcs   map[string]string
	strings map[string]map[string]bool
}

func indexTests(t *testing.T) testIndex {
	t.Helper()
	idx := testIndex{funcs: map[string]string{}, strings: map[string]map[string]bool{}}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range testFuncRE.FindAllStringSubmatch(string(b), -1) {
			idx.funcs[m[1]] = path
		}
		set := map[string]bool{}
		for _, m := range quotedRE.FindAllStringSubmatch(string(b), -1) {
			set[strings.ReplaceAll(m[1], " ", "_")] = true
		}
		idx.strings[path] = set
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// namesID reports whether a test name carries the checklist id the way
// scripts/checklist-coverage recognises it.
func namesID(name, id string) bool {
	name = strings.TrimPrefix(strings.TrimPrefix(name, "Test"), "Fuzz")
	re := regexp.MustCompile(`(^|[^A-Za-z0-9])` + id + `([^0-9]|$)`)
	for _, part := range strings.Split(name, "/") {
		if re.MatchString(part) {
			return true
		}
	}
	return false
}

// TestConformanceTable checks docs/conformance.md against the code: every
// test it names exists, each row names its item in at least one test name,
// every item of the listed sections has a row, and an "n/a" row is not
// contradicted by a test named after the item.
func TestConformanceTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("docs", "conformance.md"))
	if err != nil {
		t.Fatal(err)
	}
	idx := indexTests(t)
	var sections []string
	rows := map[string][2]string{}
	var order []string
	for _, line := range strings.Split(string(doc), "\n") {
		if s, ok := strings.CutPrefix(line, "Sections:"); ok {
			sections = strings.Fields(s)
		}
		m := tableRowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := rows[m[1]]; dup {
			t.Errorf("%s: two rows", m[1])
		}
		rows[m[1]] = [2]string{m[2], strings.TrimSpace(m[3])}
		order = append(order, m[1])
	}
	if len(sections) == 0 || len(rows) == 0 {
		t.Fatal("docs/conformance.md: no Sections: line or no table rows")
	}
	sectionOf := func(id string) string { return strings.TrimRight(id, "0123456789") }

	for _, id := range order {
		tests, notes := rows[id][0], rows[id][1]
		if !slices.Contains(sections, sectionOf(id)) {
			t.Errorf("%s: section %s is not listed in Sections:", id, sectionOf(id))
		}
		names := backtickRE.FindAllStringSubmatch(tests, -1)
		if len(names) == 0 {
			if !strings.HasPrefix(notes, "n/a") {
				t.Errorf("%s: no test and no n/a explanation", id)
			}
			for fn := range idx.funcs {
				if namesID(fn, id) {
					t.Errorf("%s is marked n/a but %s (%s) is named after it: list it in docs/conformance.md", id, fn, idx.funcs[fn])
				}
			}
			continue
		}
		carries := false
		for _, n := range names {
			name := n[1]
			if strings.HasPrefix(name, "e2e/") {
				if _, err := os.Stat(name); err != nil {
					t.Errorf("%s: %s: %v", id, name, err)
				} else if b, _ := os.ReadFile(name); regexp.MustCompile(`\b` + id + `\b`).Match(b) {
					carries = true
				}
				continue
			}
			fn, sub, _ := strings.Cut(name, "/")
			file, ok := idx.funcs[fn]
			if !ok {
				t.Errorf("%s: test %s does not exist", id, fn)
				continue
			}
			if sub != "" && !idx.strings[file][sub] {
				t.Errorf("%s: %s has no subtest %q (%s)", id, fn, sub, file)
				continue
			}
			carries = carries || namesID(name, id)
		}
		if !carries {
			t.Errorf("%s: none of the tests listed carries the id in its name", id)
		}
	}

	// Every item of the listed sections has a row: from the checklist when
	// it is at hand, else contiguous numbering from 1 in each section.
	var want []string
	for _, p := range []string{os.Getenv("CHECKLIST"), "../shared/smart-checklist.md", "../../shared/smart-checklist.md"} {
		if p == "" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			for _, m := range checklistRE.FindAllStringSubmatch(string(b), -1) {
				if slices.Contains(sections, sectionOf(m[1])) && !slices.Contains(want, m[1]) {
					want = append(want, m[1])
				}
			}
			break
		}
	}
	if want == nil {
		max := map[string]int{}
		for _, id := range order {
			n, _ := strconv.Atoi(strings.TrimPrefix(id, sectionOf(id)))
			max[sectionOf(id)] = maxInt(max[sectionOf(id)], n)
		}
		for sec, n := range max {
			for i := 1; i <= n; i++ {
				want = append(want, sec+strconv.Itoa(i))
			}
		}
	}
	for _, id := range want {
		if _, ok := rows[id]; !ok {
			t.Errorf("%s: no row in docs/conformance.md", id)
		}
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
