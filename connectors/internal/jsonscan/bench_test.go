package jsonscan

import (
	"fmt"
	"strings"
	"testing"
)

// omfBody is an OMF data message like the OMF benchmarks': containers of
// ten values, each a timestamp and three numbers (200 containers make
// about 187 KB).
func omfBody(containers int) string {
	var b strings.Builder
	b.WriteByte('[')
	for c := range containers {
		if c > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"containerid":"Tank%03d","values":[`, c)
		for v := range 10 {
			if v > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"Timestamp":"2026-01-01T00:00:%02d.%03dZ","Pressure":%d.%02d,"Temperature":%d.%d,"Level":%d.%02d}`,
				v, c, 100+c%7, v*7%100, 20+v%3, c%10, 3, (c*v)%100)
		}
		b.WriteString("]}")
	}
	b.WriteByte(']')
	return b.String()
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, src string }{
		{"mqtt", `{"v":123.5,"t":1700000000000000001}`},
		{"omf", omfBody(200)},
		{"text", "[" + strings.Repeat(`{"name":"Temperatur Kühlwasser","unit":"°C","note":"line 1\nline 2 \"quoted\" \u00e9"},`, 100) + "{}]"},
	} {
		src := bc.src
		b.Run(bc.name, func(b *testing.B) {
			var d Doc
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Parse(src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
