// The demo login page's own script: attach the collector to the form, post its session
// with the credentials to this site's back end, show the answer. No API key here: the
// back end calls the scoring API.
const collector = window.BiometricsCollector;
const form = document.getElementById("login");
const button = document.getElementById("submit");
const el = (id) => document.getElementById(id);

collector.attach(form);
document.body.dataset.collector = "attached";  // tests wait for this

function show(out) {
  el("result").hidden = false;
  const decision = out.ok ? out.decision : "error";
  const badge = el("decision");
  badge.textContent = out.ok ? (out.phase === "enroll" ? "enrolled" : decision) : "error";
  badge.className = "badge " + (out.ok && out.phase === "enroll" ? "allow" : decision);
  el("message").textContent = out.message || out.error || "";
  const hasRisk = typeof out.risk === "number";
  el("risk-row").hidden = !hasRisk;
  if (hasRisk) {
    el("risk").textContent = out.risk.toFixed(2);
    const bar = el("risk-bar");
    bar.style.width = Math.round(out.risk * 100) + "%";
    bar.style.background = `var(--${decision === "allow" ? "allow" : decision === "deny" ? "deny" : "challenge"})`;
  }
  const list = el("reasons");
  list.replaceChildren(...(out.reasons || []).map((r) => {
    const li = document.createElement("li");
    const code = document.createElement("code");
    code.textContent = r;
    li.append(code);
    return li;
  }));
  document.body.dataset.lastDecision = badge.textContent;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  button.disabled = true;
  const body = {
    username: el("username").value,
    password: el("password").value,
    session: collector.session(),
  };
  try {
    const resp = await fetch("/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    let out;
    try { out = await resp.json(); } catch { out = { ok: false, error: `HTTP ${resp.status}` }; }
    if (!resp.ok && out.ok === undefined) out = { ok: false, error: out.detail ? String(out.detail) : `HTTP ${resp.status}` };
    show(out);
  } catch (err) {
    show({ ok: false, error: "network error" });
  } finally {
    el("password").value = "";
    collector.reset();  // the next attempt is a new session
    button.disabled = false;
  }
});
