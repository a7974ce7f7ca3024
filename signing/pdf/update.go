package pdf

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
)

// update builds an incremental update (ISO 32000-1 §7.5.6): new and
// rewritten objects appended after the original bytes, then a
// cross-reference section of the same kind as the newest one in the file,
// whose trailer points back with /Prev. Nothing before the original end of
// file changes, so earlier signatures stay valid.
type update struct {
	d       *Document
	base    int64 // offset in the final file of buf[0]
	buf     bytes.Buffer
	offsets map[int]xrefEntry
	next    int // next free object number
}

func (d *Document) newUpdate() *update {
	u := &update{d: d, base: d.size, offsets: map[int]xrefEntry{}}
	size, _ := d.trailer.int("Size")
	u.next = max(int(size), len(d.xref), 1)
	if !d.endsInEOL {
		// "%%EOF" must stay on its own line before our first object.
		u.buf.WriteByte('\n')
	}
	return u
}

func (u *update) newRef() ref {
	r := ref{num: u.next}
	u.next++
	return r
}

func (u *update) offset() int64 { return u.base + int64(u.buf.Len()) }

func (u *update) begin(r ref) {
	u.offsets[r.num] = xrefEntry{kind: 'n', gen: r.gen, off: u.offset()}
	fmt.Fprintf(&u.buf, "%d %d obj\n", r.num, r.gen)
}

func (u *update) writeObject(r ref, o object) {
	u.begin(r)
	writeObject(&u.buf, o)
	u.buf.WriteString("\nendobj\n")
}

func (u *update) writeStream(r ref, sd dict, data []byte) {
	sd = sd.clone()
	sd["Length"] = int64(len(data))
	u.begin(r)
	writeObject(&u.buf, sd)
	u.buf.WriteString("\nstream\n")
	u.buf.Write(data)
	u.buf.WriteString("\nendstream\nendobj\n")
}

// trailerDict carries /Root, /Info and /ID over from the newest trailer
// (ISO 32000-1 §7.5.6: the update's trailer holds all previous entries
// except what it redefines).
func (u *update) trailerDict(size int) dict {
	t := dict{"Size": int64(size), "Prev": u.d.startxref}
	for _, k := range []name{"Root", "Info", "ID"} {
		if v, ok := u.d.trailer[k]; ok {
			t[k] = v
		}
	}
	return t
}

// finish writes the cross-reference section and trailer.
func (u *update) finish() []byte {
	if u.d.xrefStream {
		u.finishStream()
	} else {
		u.finishTable()
	}
	return u.buf.Bytes()
}

// subsections groups sorted object numbers into contiguous runs.
func subsections(nums []int) [][2]int {
	var runs [][2]int
	for _, n := range nums {
		if len(runs) > 0 && runs[len(runs)-1][0]+runs[len(runs)-1][1] == n {
			runs[len(runs)-1][1]++
			continue
		}
		runs = append(runs, [2]int{n, 1})
	}
	return runs
}

func (u *update) sortedNums() []int {
	nums := make([]int, 0, len(u.offsets))
	for n := range u.offsets {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	return nums
}

func (u *update) finishTable() {
	start := u.offset()
	nums := u.sortedNums()
	u.buf.WriteString("xref\n")
	i := 0
	for _, run := range subsections(nums) {
		fmt.Fprintf(&u.buf, "%d %d\n", run[0], run[1])
		for range run[1] {
			e := u.offsets[nums[i]]
			i++
			// Exactly 20 bytes per entry (ISO 32000-1 §7.5.4).
			fmt.Fprintf(&u.buf, "%010d %05d n \n", e.off, e.gen)
		}
	}
	u.buf.WriteString("trailer\n")
	writeObject(&u.buf, u.trailerDict(u.next))
	fmt.Fprintf(&u.buf, "\nstartxref\n%d\n%%%%EOF\n", start)
}

// finishStream writes an uncompressed xref stream (ISO 32000-1 §7.5.8)
// listing the update's objects and itself.
func (u *update) finishStream() {
	self := u.newRef()
	start := u.offset()
	u.offsets[self.num] = xrefEntry{kind: 'n', off: start}
	nums := u.sortedNums()
	ow := 1
	for v := start; v > 0xFF; v >>= 8 {
		ow++
	}
	var data []byte
	for _, n := range nums {
		e := u.offsets[n]
		data = append(data, 1)
		for i := ow - 1; i >= 0; i-- {
			data = append(data, byte(e.off>>(8*i)))
		}
		data = append(data, byte(e.gen>>8), byte(e.gen))
	}
	var index array
	for _, run := range subsections(nums) {
		index = append(index, int64(run[0]), int64(run[1]))
	}
	sd := u.trailerDict(u.next)
	sd["Type"] = name("XRef")
	sd["W"] = array{int64(1), int64(ow), int64(2)}
	sd["Index"] = index
	u.writeStream(self, sd, data)
	u.buf.WriteString("startxref\n" + strconv.FormatInt(start, 10) + "\n%%EOF\n")
}
