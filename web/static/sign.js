// eidp resident pages: approving a signature and getting a signing
// certificate with a passkey. No framework, no build step. Like app.js, it
// uses the WebAuthn Level 3 JSON helpers where the browser has them and a
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
  function requestOptions(json) {
    var o = json.publicKey || json;
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(o);
    }
    return Object.assign({}, o, {
      challenge: fromB64u(o.challenge),
      allowCredentials: (o.allowCredentials || []).map(function (c) { return Object.assign({}, c, { id: fromB64u(c.id) }); })
    });
  }
  function credentialJSON(c) {
    if (typeof c.toJSON === 'function') return c.toJSON();
    var r = c.response, res = {
      clientDataJSON: toB64u(r.clientDataJSON),
      authenticatorData: toB64u(r.authenticatorData),
      signature: toB64u(r.signature)
    };
    if (r.userHandle) res.userHandle = toB64u(r.userHandle);
    return {
      id: c.id, rawId: toB64u(c.rawId), type: c.type, response: res,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {}
    };
  }
  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);
  }
  function say(el, text, isError) {
    el.textContent = text;
    el.classList.toggle('error', !!isError);
  }
  function failure(box, e) {
    if (e && e.fromServer) return e.message;
    if (e && (e.name === 'NotAllowedError' || e.name === 'AbortError')) return box.dataset.msgCancelled;
    return box.dataset.msgFailed;
  }

  // run wires a button to one assertion ceremony: options, the passkey
  // prompt, then the finishing call, whose answer says where to go.
  function run(box, btn, status, optionsURL, finishURL, body) {
    if (!supported()) { say(status, box.dataset.msgUnsupported, true); btn.disabled = true; return; }
    btn.addEventListener('click', function () {
      btn.disabled = true;
      say(status, box.dataset.msgWorking);
      post(optionsURL, body).then(function (opts) {
        return navigator.credentials.get({ publicKey: requestOptions(opts) });
      }).then(function (cred) {
        return post(finishURL, Object.assign({}, body, { response: credentialJSON(cred) }));
      }).then(function (result) {
        window.location.assign(result.redirect);
      }).catch(function (e) {
        btn.disabled = false;
        say(status, failure(box, e), true);
      });
    });
  }

  // The approval page: the challenge commits to the documents shown.
  var approve = document.getElementById('sign-approve');
  if (approve) {
    var body = { id: approve.dataset.id };
    if (approve.dataset.next) body.next = approve.dataset.next;
    run(approve, document.getElementById('sign-approve-button'), document.getElementById('sign-status'),
      '/api/sign/options', '/api/sign/approve', body);
  }

  // The signing page of the account: a certificate after a fresh check.
  var enrol = document.getElementById('sign-enrol');
  if (enrol) {
    run(enrol, document.getElementById('sign-enrol-button'), document.getElementById('enrol-status'),
      '/api/sign/enrol/options', '/api/sign/enrol', {});
  }
})();
