package conformance

import (
	"testing"
)

// TestTraditionalChinese: a phone set to Hong Kong Chinese registers and
// logs in entirely in Traditional Chinese, the ceremony API's messages
// included; the language toggle switches to English and back.
func TestTraditionalChinese(t *testing.T) {
	srv := sharedServer(t)
	tb := newTab(t, srv.URL)
	tb.setLanguage("zh-HK,zh;q=0.9,en;q=0.5")
	phone := tb.addAuthenticator()

	want := func(sel, text string) {
		t.Helper()
		if got := tb.text(sel); got != text {
			tb.fatalf("%s says %q, want %q", sel, got, text)
		}
	}

	tb.navigate("/")
	tb.checkPage("zh-Hant")
	want("h1", "您的城市電子身份")

	tb.navigate("/register")
	tb.checkPage("zh-Hant")
	want("h1", "申請電子身份")
	want(`label[for="id_number"]`, "身份證號碼")
	tb.fillIdentity(lamYauChing) // proofed by the Chinese name 林柔晶
	tb.submitForm()
	tb.waitPath("/register/passkey")
	tb.checkPage("zh-Hant")
	want("h1", "建立您的通行密鑰")
	want("#create-passkey", "建立通行密鑰")
	codes := tb.createPasskey(true)
	want("main h1", "請保存您的復原碼")
	want("#codes-continue", "我已保存復原碼——繼續")
	tb.click("#codes-continue")
	tb.waitPath("/account")
	tb.checkPage("zh-Hant")
	want("h1", "林柔晶，歡迎您")
	want(`header nav a[href="/account"]`, "我的帳戶")
	acct := tb.account()
	if acct.Profile["姓名"] != "LAM Yau Ching" || acct.Profile["中文姓名"] != "林柔晶" || acct.Profile["性別"] != "女" {
		tb.fatalf("profile %v", acct.Profile)
	}
	if acct.Codes != "未使用的復原碼："+itoa(len(codes))+" 個" {
		tb.fatalf("recovery codes line %q", acct.Codes)
	}
	if len(acct.Passkeys) != 1 || acct.Passkeys[0].Title != "通行密鑰" {
		tb.fatalf("passkeys %+v", acct.Passkeys)
	}

	// Logging in: the page, and the API's refusal, in Chinese.
	tb.logout()
	tb.navigate("/login")
	tb.checkPage("zh-Hant")
	want("h1", "登入")
	want("#login-passkey", "使用通行密鑰登入")
	phone.setBadUV(true)
	if ok, msg := tb.login(); ok || msg != "無法使用此通行密鑰。請再試一次，或復原您的電子身份。" {
		tb.fatalf("an assertion without UV: logged in %v, message %q", ok, msg)
	}
	phone.setBadUV(false)
	tb.mustLogin()
	tb.checkPage("zh-Hant")
	want("h1", "林柔晶，歡迎您")

	// The toggle (a remembered choice) wins over Accept-Language.
	tb.clickAndLoad(`header form[action="/lang"] button`)
	tb.waitPath("/account")
	tb.checkPage("en")
	want("h1", "Welcome, Yau Ching LAM")
	want(`header nav a[href="/account"]`, "My account")
	tb.navigate("/login") // logged in: on to the account, still in English
	tb.waitPath("/account")
	tb.checkPage("en")
	tb.clickAndLoad(`header form[action="/lang"] button`)
	tb.checkPage("zh-Hant")
	want("h1", "林柔晶，歡迎您")
}
