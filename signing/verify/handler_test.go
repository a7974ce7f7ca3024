package verify_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"eidp/signing/verify"
)

func TestHandler(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(verify.Handler(f.v, 1<<20))
	defer srv.Close()
	content := []byte("minutes of the council meeting")
	signedPDF := f.pades(t, basePDF(t), true)

	form := func(parts map[string][]byte) (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for name, data := range parts {
			fw, _ := w.CreateFormFile(name, name+".bin")
			fw.Write(data)
		}
		w.Close()
		return w.FormDataContentType(), b.Bytes()
	}
	detachedType, detachedBody := form(map[string][]byte{"signature": f.cades(t, content, true, true), "content": content})
	jadesType, jadesBody := form(map[string][]byte{"signature": f.jades(t, false)})
	noSigType, noSigBody := form(map[string][]byte{"content": content})
	bigFormType, bigFormBody := form(map[string][]byte{"signature": f.cades(t, content, true, true), "content": make([]byte, 1<<20)})

	for _, tc := range []struct {
		name, method, contentType string
		body                      []byte
		status                    int
		indication                verify.Indication
		format, errCode           string
	}{
		{"a signed PDF", "POST", "application/pdf", signedPDF, 200, verify.TotalPassed, "PAdES", ""},
		{"a signed PDF sent as octets", "POST", "application/octet-stream", signedPDF, 200, verify.TotalPassed, "PAdES", ""},
		{"an enveloping CMS", "POST", "application/pkcs7-signature", f.cades(t, content, false, false), 200, verify.TotalPassed, "CAdES", ""},
		{"a detached CMS in a form", "POST", detachedType, detachedBody, 200, verify.TotalPassed, "CAdES", ""},
		{"a JAdES signature", "POST", "application/jose+json", f.jades(t, true), 200, verify.TotalPassed, "JAdES", ""},
		{"a JAdES signature in a form", "POST", jadesType, jadesBody, 200, verify.TotalPassed, "JAdES", ""},
		{"a tampered document is a report, not an error", "POST", "application/pdf", bytes.Replace(signedPDF, []byte("%PDF-1."), []byte("%PDF-2."), 1), 200, verify.TotalFailed, "PAdES", ""},
		{"a form without signature", "POST", noSigType, noSigBody, 400, "", "", "invalid_request"},
		{"garbage", "POST", "application/octet-stream", []byte("hello"), 400, "", "", "invalid_request"},
		{"a PDF type on garbage", "POST", "application/pdf", []byte("hello"), 400, "", "", "invalid_request"},
		{"an unsigned PDF", "POST", "application/pdf", basePDF(t), 400, "", "", "invalid_request"},
		{"too large", "POST", "application/pdf", append(bytes.Clone(signedPDF), make([]byte, 1<<20)...), 413, "", "", "invalid_request"},
		{"too large in a form", "POST", bigFormType, bigFormBody, 413, "", "", "invalid_request"},
		{"GET", "GET", "", nil, 405, "", "", "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/signing/verify", bytes.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d (%s), want %d\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, body)
			}
			if tc.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow: %q", resp.Header.Get("Allow"))
			}
			if tc.errCode != "" {
				var e struct{ Error, ErrorDescription string }
				if err := json.Unmarshal(body, &e); err != nil || e.Error != tc.errCode {
					t.Errorf("error body %s", body)
				}
				return
			}
			var rep verify.Report
			if err := json.Unmarshal(body, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Indication != tc.indication || rep.Format != tc.format || len(rep.Signatures) != 1 || rep.ValidationTime.IsZero() {
				t.Errorf("report %s", body)
			}
			var raw map[string]any
			json.Unmarshal(body, &raw)
			if _, ok := raw["sub_indication"]; tc.indication == verify.TotalPassed && ok {
				t.Errorf("a passed report has a sub-indication: %s", body)
			}
		})
	}
}

// FuzzHandlerBody sends arbitrary bodies through every format's parser:
// no panic, and a 200 or a 400.
func FuzzHandlerBody(f *testing.F) {
	fx := newFixture(f)
	h := verify.Handler(fx.v, 1<<20)
	f.Add([]byte("%PDF-1.7\n%%EOF"), "application/pdf")
	f.Add([]byte{0x30, 0x0b, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02}, "application/pkcs7-signature")
	f.Add([]byte(`{"protected":"e30","payload":"","signature":"AA"}`), "application/jose+json")
	f.Add([]byte("eyJhbGciOiJFUzI1NiJ9.e30.AA"), "")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		req := httptest.NewRequest("POST", "/signing/verify", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
