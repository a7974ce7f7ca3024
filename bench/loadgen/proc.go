package loadgen

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// ErrProcess is returned when the server process cannot be read.
var ErrProcess = errors.New("loadgen: cannot read the server process")

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat (proc(5)).
var clockTicks = sync.OnceValue(func() float64 {
	if hz, ok := auxvClockTicks(); ok {
		return float64(hz)
	}
	return 100 // USER_HZ on every mainstream Linux architecture
})

// auxvClockTicks reads AT_CLKTCK from this process's auxiliary vector, which
// is where the C library's sysconf(_SC_CLK_TCK) gets it.
func auxvClockTicks() (uint64, bool) {
	const atClkTck = 17 // <elf.h>
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 0, false
	}
	word := int(unsafe.Sizeof(uintptr(0)))
	read := func(p []byte) uint64 {
		if word == 4 {
			return uint64(binary.NativeEndian.Uint32(p))
		}
		return binary.NativeEndian.Uint64(p)
	}
	for i := 0; i+2*word <= len(b); i += 2 * word {
		key, val := read(b[i:]), read(b[i+word:])
		if key == atClkTck && val > 0 {
			return val, true
		}
		if key == 0 { // AT_NULL ends the vector
			break
		}
	}
	return 0, false
}

// procCPUSeconds is utime + stime of pid, in seconds (proc(5): fields 14
// and 15 of /proc/<pid>/stat, counted after the parenthesised command name,
// which may itself contain spaces and parentheses).
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrProcess, err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: /proc/%d/stat has no command name", ErrProcess, pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: /proc/%d/stat is too short", ErrProcess, pid)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%w: /proc/%d/stat: %w", ErrProcess, pid, err)
	}
	return float64(utime+stime) / clockTicks(), nil
}

// procMemory returns VmHWM (lifetime peak resident set) and VmRSS (now) of
// pid in bytes, from /proc/<pid>/status.
func procMemory(pid int) (peak, now int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrProcess, err)
	}
	defer f.Close()
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmHWM" && name != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: /proc/%d/status %s: %w", ErrProcess, pid, name, err)
		}
		if name == "VmHWM" {
			peak = kb * 1024
		} else {
			now = kb * 1024
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("%w: /proc/%d/status: %w", ErrProcess, pid, err)
	}
	if found < 2 {
		// A zombie has no memory lines.
		return 0, 0, fmt.Errorf("%w: /proc/%d/status has no VmHWM/VmRSS (has the process exited?)", ErrProcess, pid)
	}
	return peak, now, nil
}

// procWatch samples a process's resident set during a run.
type procWatch struct {
	pid  int
	peak atomic.Int64
	done chan struct{}
	wg   sync.WaitGroup
}

const rssSampleEvery = 100 * time.Millisecond

func watchProcess(pid int) (*procWatch, error) {
	if _, err := procCPUSeconds(pid); err != nil {
		return nil, err
	}
	_, rss, err := procMemory(pid)
	if err != nil {
		return nil, err
	}
	w := &procWatch{pid: pid, done: make(chan struct{})}
	w.peak.Store(rss)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(rssSampleEvery)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
				if _, rss, err := procMemory(pid); err == nil && rss > w.peak.Load() {
					w.peak.Store(rss)
				}
			}
		}
	}()
	return w, nil
}

func (w *procWatch) cpuSeconds() (float64, error)         { return procCPUSeconds(w.pid) }
func (w *procWatch) memory() (peak, now int64, err error) { return procMemory(w.pid) }
func (w *procWatch) sampledPeak() int64                   { return w.peak.Load() }

func (w *procWatch) stop() {
	close(w.done)
	w.wg.Wait()
}

// selfCPUSeconds is this process's user + system time (getrusage(2)).
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
