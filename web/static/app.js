// eidp resident pages: the WebAuthn ceremonies. No framework, no build step.
// Uses the WebAuthn Level 3 JSON helpers where the browser has them and a
// small base64url fallback where it does not.
'use strict';
(function () {
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : '';

  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (data) {
        if (!r.ok) {
          var e = new Error((data && data.error_description) || String(r.status));
          e.fromServer = true;
          throw e;
        }
        return data;
      });
    });
  }

  // --- base64url fallback (browsers without parse*FromJSON / toJSON) ---
  function fromB64u(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64u(buf) {
    var bytes = new Uint8Array(buf), bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function withIds(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: fromB64u(c.id) }); });
  }
  function creationOptions(json) {
    var o = json.publicKey || json;
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(o);
    }
    return Object.assign({}, o, {
      challenge: fromB64u(o.challenge),
      user: Object.assign({}, o.user, { id: fromB64u(o.user.id) }),
      excludeCredentials: withIds(o.excludeCredentials)
    });
  }
  function requestOptions(json) {
    var o = json.publicKey || json;
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(o);
    }
    return Object.assign({}, o, { challenge: fromB64u(o.challenge), allowCredentials: withIds(o.allowCredentials) });
  }
  function credentialJSON(c) {
    if (typeof c.toJSON === 'function') return c.toJSON();
    var r = c.response, res = { clientDataJSON: toB64u(r.clientDataJSON) };
    if (r.attestationObject) {
      res.attestationObject = toB64u(r.attestationObject);
      res.transports = r.getTransports ? r.getTransports() : [];
    } else {
      res.authenticatorData = toB64u(r.authenticatorData);
      res.signature = toB64u(r.signature);
      if (r.userHandle) res.userHandle = toB64u(r.userHandle);
    }
    return {
      id: c.id, rawId: toB64u(c.rawId), type: c.type, response: res,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {}
    };
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);
  }

  // say shows a message in a status line (announced by screen readers).
  function say(el, text, isError) {
    if (!el) return;
    el.textContent = text;
    el.classList.toggle('error', !!isError);
  }
  // failure picks the words: the server's (already translated), a cancelled
  // prompt, or a generic failure.
  function failure(box, e) {
    if (e && e.fromServer) return e.message;
    if (e && (e.name === 'NotAllowedError' || e.name === 'AbortError')) return box.dataset.msgCancelled;
    return box.dataset.msgFailed;
  }

  // Shared with sign.js (loaded after this file; both deferred).
  window.eidpPasskey = {
    post: post, requestOptions: requestOptions, credentialJSON: credentialJSON,
    supported: supported, say: say, failure: failure
  };

  function register(purpose) {
    return post('/api/passkey/register/options', { purpose: purpose }).then(function (opts) {
      return navigator.credentials.create({ publicKey: creationOptions(opts) });
    }).then(function (cred) {
      return post('/api/passkey/register', { purpose: purpose, response: credentialJSON(cred) });
    });
  }

  function showCodes(box, result) {
    var h = document.createElement('h2');
    h.textContent = box.dataset.msgCodesTitle;
    var p = document.createElement('p');
    p.textContent = box.dataset.msgCodesLead;
    var ol = document.createElement('ol');
    ol.className = 'codes';
    ol.id = 'recovery-codes';
    result.recoveryCodes.forEach(function (c) {
      var li = document.createElement('li'), code = document.createElement('code');
      code.textContent = c;
      li.appendChild(code);
      ol.appendChild(li);
    });
    var a = document.createElement('a');
    a.className = 'button primary';
    a.href = result.redirect;
    a.id = 'codes-continue';
    a.textContent = box.dataset.msgContinue;
    box.replaceChildren(ol, a);
    // The page now shows the codes: its heading and lead say so, and the
    // resident is logged in (the header's "log in" link no longer applies).
    var h1 = document.querySelector('main h1');
    if (h1) { h1.textContent = h.textContent; h1.tabIndex = -1; h1.focus(); }
    var lead = document.querySelector('main .lead');
    if (lead) lead.textContent = p.textContent;
    var navLogin = document.getElementById('nav-login');
    if (navLogin) navLogin.hidden = true;
  }

  // Registration or recovery: the page after identity proofing.
  var ceremony = document.getElementById('ceremony');
  if (ceremony) {
    var status = document.getElementById('ceremony-status');
    var btn = document.getElementById('create-passkey');
    if (!supported()) { say(status, ceremony.dataset.msgUnsupported, true); btn.disabled = true; }
    btn.addEventListener('click', function () {
      btn.disabled = true;
      say(status, ceremony.dataset.msgWorking);
      register(ceremony.dataset.purpose).then(function (result) {
        if (result.recoveryCodes && result.recoveryCodes.length) showCodes(ceremony, result);
        else window.location.assign(result.redirect);
      }).catch(function (e) {
        btn.disabled = false;
        say(status, failure(ceremony, e), true);
      });
    });
  }

  // Log in: passkey autofill (conditional mediation) plus an explicit button.
  var login = document.getElementById('login');
  if (login) {
    var lstatus = document.getElementById('login-status');
    var lbtn = document.getElementById('login-passkey');
    var pending = null;
    var finish = function (cred) {
      // next: a pending authorization to return to (the server checks it again).
      var body = { response: credentialJSON(cred) };
      if (login.dataset.next) body.next = login.dataset.next;
      return post('/api/passkey/login', body).then(function (result) {
        window.location.assign(result.redirect);
      });
    };
    if (!supported()) { say(lstatus, login.dataset.msgUnsupported, true); lbtn.disabled = true; }
    var startAutofill = function () {
      if (!PublicKeyCredential.isConditionalMediationAvailable) return;
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok) return;
        pending = new AbortController();
        var signal = pending.signal;
        return post('/api/passkey/login/options').then(function (opts) {
          return navigator.credentials.get({ publicKey: requestOptions(opts), mediation: 'conditional', signal: signal });
        }).then(function (cred) { if (cred) return finish(cred); });
      }).catch(function (e) {
        if (e && e.name === 'AbortError') return;
        say(lstatus, failure(login, e), true);
      });
    };
    if (supported() && login.dataset.autofill !== 'off') startAutofill();
    lbtn.addEventListener('click', function () {
      if (pending) { pending.abort(); pending = null; }
      lbtn.disabled = true;
      say(lstatus, login.dataset.msgWorking);
      post('/api/passkey/login/options').then(function (opts) {
        return navigator.credentials.get({ publicKey: requestOptions(opts) });
      }).then(finish).catch(function (e) {
        lbtn.disabled = false;
        say(lstatus, failure(login, e), true);
      });
    });
  }

  // A service's logo that does not load is left out, not shown broken (its
  // name is written next to it anyway).
  Array.prototype.forEach.call(document.querySelectorAll('img.logo'), function (img) {
    var hide = function () { img.hidden = true; };
    if (img.complete && img.naturalWidth === 0) hide();
    else img.addEventListener('error', hide);
  });

  // Account page: add a passkey on another device, after a fresh check.
  var add = document.getElementById('add-passkey');
  if (add) {
    var astatus = document.getElementById('add-status');
    var abtn = document.getElementById('add-passkey-button');
    if (!supported()) { say(astatus, add.dataset.msgUnsupported, true); abtn.disabled = true; }
    abtn.addEventListener('click', function () {
      abtn.disabled = true;
      say(astatus, add.dataset.msgWorking);
      post('/api/passkey/reauth/options').then(function (opts) {
        return navigator.credentials.get({ publicKey: requestOptions(opts) });
      }).then(function (cred) {
        return post('/api/passkey/reauth', { response: credentialJSON(cred) });
      }).then(function () {
        return register('add');
      }).then(function (result) {
        window.location.assign(result.redirect);
      }).catch(function (e) {
        abtn.disabled = false;
        say(astatus, failure(add, e), true);
      });
    });
  }
})();
