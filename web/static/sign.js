// eidp resident pages: approving a signature and getting a signing
// certificate with a passkey. No framework, no build step; the WebAuthn JSON
// helpers are app.js's (window.eidpPasskey).
'use strict';
(function () {
  // The helpers of app.js (the same WebAuthn JSON handling and error words).
  var pk = window.eidpPasskey;
  if (!pk) return;
  var post = pk.post, requestOptions = pk.requestOptions, credentialJSON = pk.credentialJSON,
    supported = pk.supported, say = pk.say, failure = pk.failure;

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
