package formats_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"eidp/hsm/testkeys"
	"eidp/signing/formats"
)

// BenchmarkPAdES signs PDFs of 100 KB, 1 MB and 10 MB at B-T with a soft
// resident key of a real CA and the CA's TSA, writing to io.Discard (as a
// server streams the answer). Besides time and allocations it reports
// peak-heap-MB, the highest live heap (runtime/metrics, sampled every
// millisecond during the loop) above the heap before it, and VmHWM-MB, the
// process's peak resident set so far (includes making the test PDFs).
//
//	go test -run '^$' -bench PAdES -benchmem ./signing/formats/
func BenchmarkPAdES(b *testing.B) {
	e := newEnv(b, testkeys.Soft(b))
	s, cert := e.signer(b, "resident-1")
	for _, size := range []int{100 << 10, 1 << 20, 10 << 20} {
		doc := document(b, size)
		name := fmt.Sprintf("%dKB", size>>10)
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			opts := formats.PDFOptions{Name: cert.Cert.Subject.CommonName, Reason: "benchmark"}
			runtime.GC()
			base := heapBytes()
			peak := sampleHeap()
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.PAdES(ctx, bytes.NewReader(doc), int64(len(doc)), io.Discard, formats.LevelT, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(peak()-base)/(1<<20), "peak-heap-MB")
			if hwm, ok := vmHWM(); ok {
				b.ReportMetric(float64(hwm)/(1<<20), "VmHWM-MB")
			}
		})
	}
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

// heapBytes is the live and not yet swept heap objects' size.
func heapBytes() uint64 {
	s := make([]metrics.Sample, 1)
	s[0].Name = heapSample[0].Name
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap samples heapBytes every millisecond until the returned
// function is called, which returns the highest value seen.
func sampleHeap() func() uint64 {
	var (
		mu   sync.Mutex
		peak = heapBytes()
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				v := heapBytes()
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return max(peak, heapBytes())
	}
}

// vmHWM reads the process's peak resident set size (Linux).
func vmHWM() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
