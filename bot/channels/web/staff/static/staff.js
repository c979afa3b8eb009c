// The passkey ceremony of the staff area (WebAuthn): ask the server for options, let the browser's
// authenticator answer, send the answer back. Everything is checked on the server.
"use strict";
(function () {
  const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const post = async (url, body) => {
    const r = await fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    return r.json().then((j) => ({ok: r.ok, body: j}));
  };
  const answer = (cred) => {
    const r = cred.response, out = {id: cred.id, rawId: b64(cred.rawId), type: cred.type,
      clientExtensionResults: {}, response: {clientDataJSON: b64(r.clientDataJSON)}};
    if (r.attestationObject) {
      out.response.attestationObject = b64(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = b64(r.authenticatorData);
      out.response.signature = b64(r.signature);
      if (r.userHandle) out.response.userHandle = b64(r.userHandle);
    }
    return out;
  };
  async function run(button) {
    const mode = button.dataset.mode, status = document.getElementById("passkey-status");
    const form = button.closest("form"), csrf = form.querySelector("[name=csrf]").value;
    const extra = {};
    form.querySelectorAll("input[data-send]").forEach((i) => { extra[i.name] = i.value; });
    status.textContent = button.dataset.wait;
    try {
      const start = await post("/staff/" + mode + "/options", {csrf, ...extra});
      if (!start.ok) throw new Error(start.body.message);
      const o = start.body.options;
      o.challenge = bytes(o.challenge);
      let cred;
      if (mode === "register") {
        o.user.id = bytes(o.user.id);
        (o.excludeCredentials || []).forEach((c) => { c.id = bytes(c.id); });
        cred = await navigator.credentials.create({publicKey: o});
      } else {
        (o.allowCredentials || []).forEach((c) => { c.id = bytes(c.id); });
        cred = await navigator.credentials.get({publicKey: o});
      }
      const done = await post("/staff/" + mode + "/finish", {csrf, ticket: start.body.ticket,
        credential: answer(cred), ...extra});
      if (!done.ok) throw new Error(done.body.message);
      window.location.assign(done.body.next);
    } catch (e) {
      status.textContent = (e && e.message) || button.dataset.failed;
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("button[data-mode]").forEach((button) => {
      button.addEventListener("click", (event) => { event.preventDefault(); run(button); });
    });
  });
})();
