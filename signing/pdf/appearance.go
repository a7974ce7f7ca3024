package pdf

import (
	"bytes"
	"fmt"
	"strings"
)

// appearanceDict is a form XObject (ISO 32000-1 §8.10) using the standard
// Helvetica font with WinAnsiEncoding (§9.6.2.2), which every reader has.
func appearanceDict(w, h float64) dict {
	return dict{
		"Type": name("XObject"), "Subtype": name("Form"),
		"BBox": array{int64(0), int64(0), w, h},
		"Resources": dict{"Font": dict{"F1": dict{
			"Type": name("Font"), "Subtype": name("Type1"),
			"BaseFont": name("Helvetica"), "Encoding": name("WinAnsiEncoding"),
		}}},
	}
}

func defaultLines(opts SignOptions) []string {
	var lines []string
	if opts.Name != "" {
		lines = append(lines, "Digitally signed by "+opts.Name)
	}
	lines = append(lines, "Date: "+opts.SigningTime.Format("2006-01-02 15:04:05 -07:00"))
	if opts.Reason != "" {
		lines = append(lines, "Reason: "+opts.Reason)
	}
	if opts.Location != "" {
		lines = append(lines, "Location: "+opts.Location)
	}
	return lines
}

// appearanceContent draws a thin border and the lines, with a font size
// that fits both the height and the widest line.
func appearanceContent(w, h float64, lines []string) []byte {
	const margin, leading = 2.0, 1.2
	enc := make([][]byte, len(lines))
	widest := 0.0
	for i, l := range lines {
		enc[i] = winAnsi(l)
		widest = max(widest, textWidth(enc[i]))
	}
	size := 10.0
	if n := float64(max(len(lines), 1)); (h-2*margin)/(n*leading) < size {
		size = (h - 2*margin) / (n * leading)
	}
	if widest > 0 && (w-2*margin)/widest*1000 < size {
		size = (w - 2*margin) / widest * 1000
	}
	size = max(size, 1)
	var b bytes.Buffer
	fmt.Fprintf(&b, "q 0.5 w 0 0 0 RG 0.25 0.25 %s %s re S Q\n", num(w-0.5), num(h-0.5))
	fmt.Fprintf(&b, "BT /F1 %s Tf 0 g %s TL %s %s Td\n", num(size), num(size*leading), num(margin), num(h-margin-size))
	for i, l := range enc {
		if i > 0 {
			b.WriteString("T* ")
		}
		writeLiteralString(&b, l)
		b.WriteString(" Tj\n")
	}
	b.WriteString("ET")
	return b.Bytes()
}

func num(f float64) string {
	var b bytes.Buffer
	writeReal(&b, float64(int64(f*100))/100)
	return b.String()
}

// winAnsi encodes s in WinAnsiEncoding (ISO 32000-1 Annex D); characters
// it lacks become '?'. Control characters become spaces.
func winAnsi(s string) []byte {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 0x20:
			b = append(b, ' ')
		case r < 0x7F || (r >= 0xA0 && r <= 0xFF):
			b = append(b, byte(r))
		default:
			if c := strings.IndexRune(winAnsiHigh, r); c >= 0 && r != '?' {
				b = append(b, byte(0x80+len([]rune(winAnsiHigh[:c]))))
			} else {
				b = append(b, '?')
			}
		}
	}
	return b
}

// winAnsiHigh is WinAnsiEncoding 0x80–0x9F; '?' marks unused codes.
const winAnsiHigh = "€?‚ƒ„…†‡ˆ‰Š‹Œ?Ž??‘’“”•–—˜™š›œ?žŸ"

// textWidth is the width of b in Helvetica, in thousandths of the font size
// (Helvetica AFM widths for ASCII; an average for the rest).
func textWidth(b []byte) float64 {
	w := 0
	for _, c := range b {
		if c >= 0x20 && c < 0x7F {
			w += helveticaWidths[c-0x20]
		} else {
			w += 556
		}
	}
	return float64(w)
}

var helveticaWidths = [95]int{
	278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space ! " # $ % & ' ( ) * + , - . /
	556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0-9 : ; < = > ?
	1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @ A-O
	667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P-Z [ \ ] ^ _
	333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // ` a-o
	556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p-z { | } ~
}
