/* SPDX-License-Identifier: Apache-2.0 */
/* authd-edge progressive enhancement (served as /auth/static/pages.js; the CSP allows scripts
   from 'self' only, so nothing is inline). Every page works without it: the buttons it wires
   up carry the hidden attribute and are shown here.
   - <button data-copy="ID">: copies the text of element ID to the clipboard; a list (<ol>,
     <ul>) is copied one item per line, anything else with its spaces removed (the grouped
     key). The result is announced in the element named by data-copy-status.
   - <button data-print>: opens the browser's print dialog (the print stylesheet does the rest).
   - <form data-passkey="KIND"> (edge/passkey.h): a passkey ceremony. Its button asks the edge to
     begin one (JSON POST with the form's CSRF token in X-CSRF-Token: /auth/passkeys/registration
     for "register", /auth/passkeys/assertion for "second-factor", "confirm" and
     "passwordless"), runs navigator.credentials.create() or .get() with authd's options, puts
     the ceremony id and the response's JSON into the form's hidden fields and submits it. A
     "passwordless" form also starts conditional mediation (the browser's autofill offers the
     user's passkeys in a field with autocomplete="... webauthn") when the browser has it. */
'use strict';
(function () {
  // Once per page, however many pages of ours put the script tag in.
  if (document.documentElement.hasAttribute('data-pages-js')) return;
  document.documentElement.setAttribute('data-pages-js', '');
  function textOf(el) {
    if (el.tagName === 'OL' || el.tagName === 'UL') {
      return Array.from(el.querySelectorAll('li'), function (li) {
        return li.textContent.trim();
      }).join('\n') + '\n';
    }
    return el.textContent.replace(/\s+/g, '');
  }

  function announce(button, text) {
    var id = button.getAttribute('data-copy-status');
    var out = id ? document.getElementById(id) : null;
    if (out) out.textContent = text;
  }

  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    var target = document.getElementById(button.getAttribute('data-copy'));
    if (!target || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(textOf(target)).then(function () {
        announce(button, 'Copied to the clipboard.');
      }, function () {
        announce(button, 'Could not copy: select the text and copy it instead.');
      });
    });
  });

  document.querySelectorAll('button[data-print]').forEach(function (button) {
    if (typeof window.print !== 'function') return;
    button.hidden = false;
    button.addEventListener('click', function () {
      window.print();
    });
  });
  passkeys();
})();

// ---- passkeys (WebAuthn) --------------------------------------------------------------------
function passkeys() {
  var forms = document.querySelectorAll('form[data-passkey]');
  if (forms.length === 0) return;
  var PKC = window.PublicKeyCredential;
  if (!PKC || !navigator.credentials || !window.fetch) return; // the note without it stays

  // base64url without padding <-> ArrayBuffer, for browsers without the JSON helpers.
  function fromB64url(s) {
    var b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out.buffer;
  }
  function toB64url(buf) {
    var bytes = new Uint8Array(buf), s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function withIds(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64url(c.id) });
    });
  }
  function creationOptions(o) {
    if (typeof PKC.parseCreationOptionsFromJSON === 'function') {
      return PKC.parseCreationOptionsFromJSON(o);
    }
    return Object.assign({}, o, {
      challenge: fromB64url(o.challenge),
      user: Object.assign({}, o.user, { id: fromB64url(o.user.id) }),
      excludeCredentials: withIds(o.excludeCredentials)
    });
  }
  function requestOptions(o) {
    if (typeof PKC.parseRequestOptionsFromJSON === 'function') {
      return PKC.parseRequestOptionsFromJSON(o);
    }
    return Object.assign({}, o, {
      challenge: fromB64url(o.challenge),
      allowCredentials: withIds(o.allowCredentials)
    });
  }
  // RegistrationResponseJSON / AuthenticationResponseJSON (WebAuthn L3 §5.1).
  function responseJSON(cred) {
    if (typeof cred.toJSON === 'function') return cred.toJSON();
    var r = cred.response;
    var out = {
      id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      out.response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      out.response.userHandle = r.userHandle ? toB64url(r.userHandle) : undefined;
    }
    return out;
  }
  // What a failed ceremony says, in words for people.
  function words(e) {
    if (e && e.fromEdge) return e.message;
    var name = e && e.name;
    if (name === 'NotAllowedError') return 'Nothing was done: the request was cancelled or ' +
      'timed out. Try again.';
    if (name === 'InvalidStateError') return 'This key is already added to your account.';
    if (name === 'SecurityError') return 'This address cannot use passkeys. Ask the ' +
      'administrator to check the passkey settings.';
    if (name === 'NotSupportedError') return 'This key or browser does not support what is ' +
      'needed. Try another key.';
    return 'Something went wrong. Try again.';
  }
  function field(form, name) {
    return form.querySelector('input[name="' + name + '"]');
  }
  function begin(form, body) {
    var url = form.getAttribute('data-passkey') === 'register' ? '/auth/passkeys/registration'
      : '/auth/passkeys/assertion';
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': field(form, 'csrf').value },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (j) {
        if (resp.ok && j.options) return j;
        var e = new Error(j.error_description || 'Something went wrong. Try again.');
        e.fromEdge = true;
        throw e;
      });
    });
  }
  function finish(form, started, cred) {
    field(form, 'ceremony_id').value = started.ceremony_id || '';
    field(form, 'credential').value = JSON.stringify(responseJSON(cred));
    var mirror = form.querySelector('input[data-passkey-remember]');
    var box = document.getElementById('remember');
    if (mirror && box) mirror.value = box.checked ? '1' : '';
    form.submit();
  }

  var conditional = null; // the AbortController of a pending autofill request
  function run(form, button, status) {
    var kind = form.getAttribute('data-passkey');
    var body = {};
    if (kind === 'register') {
      var choice = form.querySelector('input[name="passkey"]:checked');
      body.passkey = !choice || choice.value === '1';
    } else if (kind === 'passwordless') {
      body.passwordless = true;
    }
    if (conditional) { conditional.abort(); conditional = null; }
    button.disabled = true;
    status.textContent = kind === 'register' ? 'Follow your browser\'s steps to create the key.'
      : 'Follow your browser\'s steps to use your key.';
    begin(form, body).then(function (started) {
      if (kind === 'register') {
        return navigator.credentials.create({ publicKey: creationOptions(started.options) })
          .then(function (cred) { finish(form, started, cred); });
      }
      return navigator.credentials.get({ publicKey: requestOptions(started.options) })
        .then(function (cred) { finish(form, started, cred); });
    }).catch(function (e) {
      button.disabled = false;
      status.textContent = words(e);
    });
  }

  forms.forEach(function (form) {
    var button = form.querySelector('[data-passkey-go]');
    var status = form.querySelector('[data-passkey-status]');
    var note = form.querySelector('[data-passkey-unsupported]');
    if (!button || !status) return;
    button.hidden = false;
    if (note) note.hidden = true;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      run(form, button, status);
    });
    if (form.getAttribute('data-passkey') !== 'passwordless' ||
        !document.querySelector('input[autocomplete~="webauthn"]') ||
        typeof PKC.isConditionalMediationAvailable !== 'function') return;
    // Autofill: the browser lists the user's passkeys in the e-mail field.
    PKC.isConditionalMediationAvailable().then(function (yes) {
      if (!yes) return;
      var ctrl = new AbortController();
      conditional = ctrl;
      return begin(form, { passwordless: true }).then(function (started) {
        if (ctrl.signal.aborted) return;
        return navigator.credentials.get({ mediation: 'conditional', signal: ctrl.signal,
          publicKey: requestOptions(started.options) }).then(function (cred) {
          if (cred && !ctrl.signal.aborted) finish(form, started, cred);
        });
      });
    }).catch(function (e) {
      if (e && e.name === 'AbortError') return;
      if (e && e.fromEdge) status.textContent = e.message;
    });
  });
}
