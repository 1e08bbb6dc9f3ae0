package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayauth/relayauth"
	"github.com/relayauth/relayauth/apikey"
	"github.com/relayauth/relayauth/apikey/apikeytest"
	"github.com/relayauth/relayauth/apikey/filestore"
)

var (
	ctx   = context.Background()
	quiet = slog.New(slog.DiscardHandler)
)

func open(t testing.TB, path string) *filestore.Store {
	t.Helper()
	s, err := filestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	apikeytest.RunTests(t, func(t *testing.T) apikey.Store {
		return open(t, filepath.Join(t.TempDir(), "keys.json"))
	})
}

// reopening opens the file afresh for every call: each operation then
// starts from what is on disk, as another process would, and concurrent
// operations lock each other out through flock alone.
type reopening struct {
	t    *testing.T
	path string
}

func (r reopening) with(fn func(s *filestore.Store) error) error {
	s, err := filestore.Open(r.path)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

func (r reopening) Create(ctx context.Context, k apikey.Key) error {
	return r.with(func(s *filestore.Store) error { return s.Create(ctx, k) })
}

func (r reopening) Get(ctx context.Context, id string) (k apikey.Key, err error) {
	err = r.with(func(s *filestore.Store) error { k, err = s.Get(ctx, id); return err })
	return k, err
}

func (r reopening) GetByHash(ctx context.Context, h apikey.Hash) (k apikey.Key, err error) {
	err = r.with(func(s *filestore.Store) error { k, err = s.GetByHash(ctx, h); return err })
	return k, err
}

func (r reopening) List(ctx context.Context, tenant string) (l []apikey.Key, err error) {
	err = r.with(func(s *filestore.Store) error { l, err = s.List(ctx, tenant); return err })
	return l, err
}

func (r reopening) Update(ctx context.Context, id string, fn func(*apikey.Key) error) (k apikey.Key, err error) {
	err = r.with(func(s *filestore.Store) error { k, err = s.Update(ctx, id, fn); return err })
	return k, err
}

func (r reopening) TouchLastUsed(ctx context.Context, used map[string]time.Time) error {
	return r.with(func(s *filestore.Store) error { return s.TouchLastUsed(ctx, used) })
}

func (r reopening) Delete(ctx context.Context, id string) error {
	return r.with(func(s *filestore.Store) error { return s.Delete(ctx, id) })
}

func (r reopening) Ping(ctx context.Context) error {
	return r.with(func(s *filestore.Store) error { return s.Ping(ctx) })
}

func (r reopening) Close() error { return nil }

func TestConformanceReopening(t *testing.T) {
	apikeytest.RunTests(t, func(t *testing.T) apikey.Store {
		return reopening{t, filepath.Join(t.TempDir(), "keys.json")}
	})
}

const (
	envHelperPath = "RELAYAUTH_FILESTORE_HELPER_PATH"
	envHelperN    = "RELAYAUTH_FILESTORE_HELPER_N"
)

// TestHelperProcess is the second process of TestTwoProcesses: the test
// binary, run again. It does nothing in an ordinary test run.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(envHelperPath)
	if path == "" {
		return
	}
	var n int
	fmt.Sscan(os.Getenv(envHelperN), &n)
	s, err := filestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Tell the parent we are ready, and start when it says so, so the two
	// processes really write at the same time.
	if err := os.WriteFile(path+".ready", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(path + ".go"); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	createMany(t, []*filestore.Store{s}, "child", n)
}

// createMany creates n keys of tenant through the stores, concurrently.
func createMany(t testing.TB, stores []*filestore.Store, tenant string, n int) {
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				k := apikeytest.NewKey(tenant, fmt.Sprintf("%s-%03d", tenant, i), apikeytest.Base())
				if err := stores[i%len(stores)].Create(ctx, k); err != nil {
					t.Errorf("%s: Create %d: %v", tenant, i, err)
				}
			}
		})
	}
	wg.Wait()
}

// TestTwoProcesses: two processes (and two stores in this one) create
// keys in one file at the same time; none is lost.
func TestTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second process")
	}
	const n = 60
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envHelperPath+"="+path, fmt.Sprintf("%s=%d", envHelperN, n))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path + ".ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the helper process never got ready:\n%s", out.String())
		}
		time.Sleep(time.Millisecond)
	}
	stores := []*filestore.Store{open(t, path), open(t, path)}
	if err := os.WriteFile(path+".go", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	createMany(t, stores, "parent", n)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the helper process failed: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "PASS") {
		t.Fatalf("the helper process did not run:\n%s", out.String())
	}
	all, err := open(t, path).List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, k := range all {
		count[k.Tenant]++
	}
	if count["parent"] != n || count["child"] != n {
		t.Errorf("after two processes each created %d keys, the file holds %v (lost writes)", n, count)
	}
	// Both in-process stores see everything too.
	for _, s := range stores {
		if l, _ := s.List(ctx, "child"); len(l) != n {
			t.Errorf("a store of this process sees %d of the child's keys", len(l))
		}
	}
}

// writeKeys makes a valid file of a few keys and returns its bytes.
func writeKeys(t *testing.T, path string) []byte {
	t.Helper()
	s, err := filestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Create(ctx, apikeytest.NewKey("acme", fmt.Sprintf("k%d", i), apikeytest.Base())); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type snapshot struct {
	data  []byte
	mode  fs.FileMode
	mtime time.Time
}

func snap(t *testing.T, path string) snapshot {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{b, fi.Mode(), fi.ModTime()}
}

func (a snapshot) same(b snapshot) bool {
	return bytes.Equal(a.data, b.data) && a.mode == b.mode && a.mtime.Equal(b.mtime)
}

// TestRefusesBadFiles: each bad file is refused at Open with a message
// that names the file and the problem, and is left exactly as it was.
func TestRefusesBadFiles(t *testing.T) {
	good := writeKeys(t, filepath.Join(t.TempDir(), "good.json"))
	corrupt := bytes.Clone(good)
	i := bytes.Index(corrupt, []byte(`"name":"k1"`)) + len(`"name":"k`)
	corrupt[i] = '7' // still valid JSON: only the checksum can tell
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x20
	for _, tc := range []struct {
		name string
		data []byte
		perm fs.FileMode
		want string
	}{
		{"truncated", good[:len(good)/2], 0o600, "not valid JSON"},
		{"truncated to nothing", nil, 0o600, "empty"},
		{"one byte changed in a name", corrupt, 0o600, "checksum mismatch"},
		{"one bit flipped", flipped, 0o600, "keys.json: "},
		{"foreign JSON", []byte(`{"users":[{"name":"alice"}]}`), 0o600, "not a Relay Auth API key file (missing format marker)"},
		{"a JSON array", []byte(`[1,2,3]`), 0o600, "not a Relay Auth API key file (not a JSON object)"},
		{"another format", []byte(`{"format":"vault-tokens","version":1}`), 0o600, `format "vault-tokens"`},
		{"newer version", bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 2`), 1), 0o600, "newer Relay Auth (file version 2"},
		{"version 0", bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 0`), 1), 0o600, "invalid version"},
		{"binary", []byte{0x1f, 0x8b, 0x08, 0x00, 0xff}, 0o600, "not valid JSON"},
		{"readable by others", good, 0o644, "permissions 0644 are too open"},
		{"readable by the group", good, 0o640, "permissions 0640 are too open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := os.WriteFile(path, tc.data, tc.perm); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tc.perm) // whatever the umask
			old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			os.Chtimes(path, old, old)
			before := snap(t, path)

			s, err := filestore.Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open accepted the file")
			}
			var fe *filestore.FileError
			if !errors.Is(err, filestore.ErrBadFile) || !errors.As(err, &fe) {
				t.Errorf("Open: %v, want a FileError", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "API_KEYS_FILE "+path+": ") || !strings.Contains(msg, tc.want) {
				t.Errorf("Open: %q; want the path and %q", msg, tc.want)
			}
			if !before.same(snap(t, path)) {
				t.Error("Open changed the refused file")
			}
			if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
				t.Errorf("Open left files next to the refused one: %v", ents)
			}
		})
	}
}

// TestFileGoesBadWhileOpen: a file that turns bad after Open (a restore
// gone wrong, a hand edit) fails every operation, and no write touches it.
func TestFileGoesBadWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	good := writeKeys(t, path)
	s := open(t, path)
	keys, err := s.List(ctx, "")
	if err != nil || len(keys) != 3 {
		t.Fatalf("List = %d keys, %v", len(keys), err)
	}
	bad := good[:len(good)-20]
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	before := snap(t, path)
	ops := map[string]error{
		"Create": s.Create(ctx, apikeytest.NewKey("acme", "new", apikeytest.Base())),
		"Update": func() error {
			_, err := s.Update(ctx, keys[0].ID, func(k *apikey.Key) error { k.Name = "x"; return nil })
			return err
		}(),
		"Touch":  s.TouchLastUsed(ctx, map[string]time.Time{keys[0].ID: time.Now()}),
		"Delete": s.Delete(ctx, keys[0].ID),
		"Ping":   s.Ping(ctx),
	}
	_, ops["Get"] = s.Get(ctx, keys[0].ID)
	_, ops["GetByHash"] = s.GetByHash(ctx, keys[0].Hash)
	for name, err := range ops {
		if !errors.Is(err, filestore.ErrBadFile) || !errors.Is(err, relayauth.ErrUnavailable) {
			t.Errorf("%s on a bad file: %v, want ErrBadFile and ErrUnavailable", name, err)
		}
	}
	if !before.same(snap(t, path)) {
		t.Error("an operation wrote the bad file")
	}
}

func TestMissingFileCreatedOnFirstWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	s := open(t, path)
	if list, err := s.List(ctx, ""); err != nil || len(list) != 0 {
		t.Errorf("List of a missing file = %v, %v", list, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping before the first write: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("Open and reads created files: %v", ents)
	}
	if err := s.Create(ctx, apikeytest.NewKey("acme", "k", apikeytest.Base())); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the first write did not create the file: %v", err)
	}
	if _, err := filestore.Open(filepath.Join(dir, "no", "such", "keys.json")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Open in a missing directory: %v", err)
	}
}

// TestFileHygiene: mode 0600 after every write, no temporary files left,
// hashes and masks but never a key in the bytes.
func TestFileHygiene(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	s := open(t, path)
	m, err := apikey.NewManager(s, apikey.EnvLive, apikey.WithFlushInterval(time.Hour), apikey.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	var masks []string
	for i := range 5 {
		k, sec, err := m.Create(ctx, apikey.CreateRequest{Name: fmt.Sprintf("k%d", i), Tenant: "acme", ExpiresIn: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		secrets, masks = append(secrets, sec.Reveal()), append(masks, k.MaskedKey)
		if _, err := m.Verify(ctx, sec.Reveal()); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			k, sec, err := m.Rotate(ctx, k.ID, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			secrets, masks = append(secrets, sec.Reveal()), append(masks, k.MaskedKey)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("after a write the file's mode is %v (%v), want 0600", fi.Mode().Perm(), err)
		}
	}
	// A refused write (a taken name) writes nothing.
	before := snap(t, path)
	if _, _, err := m.Create(ctx, apikey.CreateRequest{Name: "k0", Tenant: "acme"}); !errors.Is(err, apikey.ErrNameTaken) {
		t.Fatalf("a taken name: %v", err)
	}
	if !before.same(snap(t, path)) {
		t.Error("a refused Create rewrote the file")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, sec := range secrets {
		if bytes.Contains(data, []byte(sec[8:41])) || bytes.Contains(data, []byte(sec[12:28])) {
			t.Fatalf("the file holds a key:\n%s", data)
		}
		if !bytes.Contains(data, []byte(apikey.HashOf(sec).String())) {
			t.Error("the file lacks a key's hash")
		}
	}
	for _, mask := range masks[len(masks)-1:] {
		if !bytes.Contains(data, []byte(mask)) {
			t.Errorf("the file lacks the masked key %s", mask)
		}
	}
	if !bytes.Contains(data, []byte(`"last_used_at"`)) {
		t.Error("Close did not flush last-used times to the file")
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"keys.json", "keys.json.lock"}) {
		t.Errorf("the directory holds %v, want only the file and its lock", names)
	}
	if fi, err := os.Stat(path + ".lock"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the lock file's mode is %v, want 0600", fi.Mode().Perm())
	}
	// A fresh Manager on the reopened file accepts the keys.
	m2, err := apikey.NewManager(open(t, path), apikey.EnvLive, apikey.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if _, err := m2.Verify(ctx, secrets[len(secrets)-1]); err != nil {
		t.Errorf("a key after reopening the file: %v", err)
	}
}

// TestTouchWithoutChangeDoesNotWrite: a last-used batch that moves nothing
// leaves the file alone.
func TestTouchWithoutChangeDoesNotWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	s := open(t, path)
	k := apikeytest.NewKey("acme", "k", apikeytest.Base())
	k.LastUsedAt = k.CreatedAt.Add(time.Hour)
	if err := s.Create(ctx, k); err != nil {
		t.Fatal(err)
	}
	before := snap(t, path)
	if err := s.TouchLastUsed(ctx, map[string]time.Time{k.ID: k.CreatedAt, apikey.NewID(): time.Now()}); err != nil {
		t.Fatal(err)
	}
	if !before.same(snap(t, path)) {
		t.Error("a TouchLastUsed that moved nothing rewrote the file")
	}
}

// TestSymlinkedPath: a path that is a symlink keeps pointing at the file
// that writes replace.
func TestSymlinkedPath(t *testing.T) {
	realDir, linkDir := t.TempDir(), t.TempDir()
	real := filepath.Join(realDir, "keys.json")
	writeKeys(t, real)
	link := filepath.Join(linkDir, "keys.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	s := open(t, link)
	if err := s.Create(ctx, apikeytest.NewKey("acme", "via-link", apikeytest.Base())); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("the write replaced the symlink")
	}
	if l, _ := open(t, real).List(ctx, ""); len(l) != 4 {
		t.Errorf("the real file holds %d keys, want 4", len(l))
	}
}

// TestSymlinkToAFileNotYetWritten: on a first start, API_KEYS_FILE may be
// a link to a file on a volume that does not exist yet. The first write
// must create that file, not replace the link with a file of its own;
// relative links and chains of links included.
func TestSymlinkToAFileNotYetWritten(t *testing.T) {
	for _, tc := range []struct {
		name string
		link func(t *testing.T, volume, dir string) (link, target string)
	}{
		{"absolute", func(t *testing.T, volume, dir string) (string, string) {
			target := filepath.Join(volume, "keys.json")
			return symlink(t, target, filepath.Join(dir, "keys.json")), target
		}},
		{"relative", func(t *testing.T, volume, dir string) (string, string) {
			target := filepath.Join(volume, "keys.json")
			rel, err := filepath.Rel(dir, target)
			if err != nil {
				t.Fatal(err)
			}
			return symlink(t, rel, filepath.Join(dir, "keys.json")), target
		}},
		{"a chain", func(t *testing.T, volume, dir string) (string, string) {
			target := filepath.Join(volume, "keys.json")
			symlink(t, target, filepath.Join(dir, "mid.json"))
			return symlink(t, "mid.json", filepath.Join(dir, "keys.json")), target
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			volume, dir := t.TempDir(), t.TempDir()
			link, target := tc.link(t, volume, dir)
			s := open(t, link)
			if err := s.Create(ctx, apikeytest.NewKey("acme", "first", apikeytest.Base())); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Fatal("the first write replaced the symlink")
			}
			if l, _ := open(t, target).List(ctx, ""); len(l) != 1 {
				t.Fatalf("the linked file holds %d keys, want 1", len(l))
			}
		})
	}
	t.Run("a loop", func(t *testing.T) {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		symlink(t, b, a)
		symlink(t, a, b)
		if _, err := filestore.Open(a); err == nil {
			t.Fatal("a symlink loop was accepted")
		}
	})
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

func TestClosed(t *testing.T) {
	s, err := filestore.Open(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Create(ctx, apikeytest.NewKey("acme", "k", apikeytest.Base())); !errors.Is(err, relayauth.ErrUnavailable) {
		t.Errorf("Create after Close: %v", err)
	}
}
