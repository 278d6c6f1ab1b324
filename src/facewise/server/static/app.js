/* facewise web page: plain JavaScript, no framework, no build step.
 *
 * Safety rule: server and user text is only ever inserted with textContent / text nodes
 * (see el()); this file never assigns innerHTML. A person's name may be hostile.
 */
"use strict";

(() => {
  const KEY_STORAGE = "facewise.apiKey";
  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- DOM helpers

  /** Create an element; string children become text nodes (never parsed as HTML). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  /** A visually hidden text span (read by screen readers, e.g. to name a button's target). */
  const srOnly = (text) => el("span", { class: "visually-hidden" }, text);

  function fmtNumber(value, digits = 4) {
    return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "—";
  }

  function fmtText(value) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  /** A <dl> from [term, value] pairs; values are text (or Nodes). */
  function definitionList(pairs, className) {
    const dl = el("dl", { class: className || "pairs" });
    for (const [term, value] of pairs) {
      dl.append(el("dt", null, term), el("dd", null, value instanceof Node ? value : fmtText(value)));
    }
    return dl;
  }

  function setStatus(id, text) {
    $(id).textContent = text;
  }

  // ---------------------------------------------------------------- errors

  class ApiError extends Error {
    constructor(status, code, message, body) {
      super(message);
      this.status = status;
      this.code = code;
      this.body = body || null;
    }
  }

  function showError(error) {
    let text;
    if (error instanceof ApiError) {
      const where = error.status ? `${error.code}, HTTP ${error.status}` : error.code;
      text = `${error.message} (${where})`;
    } else {
      text = `Unexpected problem in the page: ${error && error.message ? error.message : error}`;
    }
    $("error-text").textContent = text;
    $("error").hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error-text").textContent = "";
  }

  /** Report a problem with a form field: error region, aria-invalid, focus on the field. */
  function fieldError(input, message) {
    input.setAttribute("aria-invalid", "true");
    input.addEventListener("input", () => input.removeAttribute("aria-invalid"), { once: true });
    input.addEventListener("change", () => input.removeAttribute("aria-invalid"), { once: true });
    showError(new ApiError(0, "invalid_input", message));
    input.focus();
  }

  // ---------------------------------------------------------------- API

  const getKey = () => sessionStorage.getItem(KEY_STORAGE) || "";

  /** The ApiError of a failed response whose body parsed to ``data`` (or null). */
  function responseError(response, data) {
    // {"code","message"}; also accept {"error": {...}} and FastAPI's {"detail": ...}.
    const err = data && typeof data.error === "object" && data.error ? data.error : data || {};
    const code = typeof err.code === "string" ? err.code : `http_${response.status}`;
    let message = typeof err.message === "string" ? err.message : null;
    if (!message && err.detail !== undefined) message = fmtText(err.detail);
    return new ApiError(response.status, code, message || response.statusText || "Request failed",
      err);
  }

  /**
   * Call the API: JSON back, or an ApiError built from the {"code","message"} body. ``json``:
   * the body is a JSON string.
   */
  async function api(path, { method = "GET", body, json = false } = {}) {
    const key = getKey();
    if (!key) {
      $("api-key").focus();
      throw new ApiError(0, "no_key", "Enter an API key first (API key section).");
    }
    const headers = { Accept: "application/json", Authorization: `Bearer ${key}` };
    if (json) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method, headers, body, cache: "no-store", credentials: "omit" });
    } catch (error) {
      throw new ApiError(0, "network", `Could not reach the server: ${error.message}`);
    }
    const raw = await response.text();
    let data = null;
    try {
      data = raw ? JSON.parse(raw) : null;
    } catch {
      data = null;
    }
    if (!response.ok) throw responseError(response, data);
    if (data === null || typeof data !== "object") {
      throw new ApiError(response.status, "bad_response", "The server did not answer with JSON.");
    }
    return data;
  }

  const personPath = (name) => `v1/people/${encodeURIComponent(name)}`;

  /**
   * Run an action for a control: one at a time, error region on failure. The button is
   * marked aria-disabled rather than disabled so keyboard focus stays on it.
   */
  async function busy(button, statusId, workingText, action) {
    if (button.getAttribute("aria-disabled") === "true") return;
    clearError();
    button.setAttribute("aria-disabled", "true");
    if (statusId) setStatus(statusId, workingText);
    try {
      await action();
    } catch (error) {
      if (statusId) setStatus(statusId, "Failed: see the error message above.");
      showError(error);
    } finally {
      button.removeAttribute("aria-disabled");
    }
  }

  const submitterOf = (form) => form.querySelector('button[type="submit"]');

  // ---------------------------------------------------------------- API key

  async function whoami() {
    const data = await api("v1/whoami");
    const scopes = Array.isArray(data.scopes) ? data.scopes.join(", ") : fmtText(data.scopes);
    setStatus("whoami", `Key “${fmtText(data.name)}” in use — scopes: ${scopes || "none"}.`);
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("api-key");
    const key = input.value.trim();
    if (!key) {
      fieldError(input, "Enter an API key.");
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    busy(submitterOf(event.target), "whoami", "Checking the key…", async () => {
      try {
        await whoami();
      } catch (error) {
        setStatus("whoami", "The key was not accepted.");
        showError(error);
      }
    });
  });

  $("key-clear").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    $("api-key").value = "";
    clearError();
    setStatus("whoami", "No key in use.");
  });

  $("error-dismiss").addEventListener("click", () => {
    clearError();
    $("main").focus();
  });

  // ---------------------------------------------------------------- enrol

  function showSkipped(skipped) {
    if (!skipped.length) return;
    $("enrol-result").append(
      el("h3", null, "Skipped photos"),
      el("ul", null, skipped.map((item) =>
        el("li", null, `${fmtText(item.image)}: ${fmtText(item.reason)}`))),
    );
  }

  $("enrol-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const name = $("enrol-name").value.trim();
    const consent = $("enrol-consent").value.trim();
    const source = $("enrol-source").value.trim();
    const expires = $("enrol-expires").value;
    const files = Array.from($("enrol-images").files || []);
    const existing = $("enrol-existing").checked;
    const largest = $("enrol-largest").checked;
    if (!name) return fieldError($("enrol-name"), "Enter the person's name.");
    if (!consent) return fieldError($("enrol-consent"), "Enter the consent basis.");
    if (!files.length) return fieldError($("enrol-images"), "Choose at least one photo.");

    const body = new FormData();
    if (!existing) body.append("name", name);
    body.append("consent", consent);
    if (source) body.append("source", source);
    if (expires) body.append("expires_at", expires);
    if (largest) body.append("largest", "true");
    for (const file of files) body.append("images", file, file.name);
    const path = existing ? `${personPath(name)}/samples` : "v1/people";

    busy(submitterOf(form), "enrol-status", "Enrolling…", async () => {
      $("enrol-result").replaceChildren();
      let data;
      try {
        data = await api(path, { method: "POST", body });
      } catch (error) {
        // nothing usable: the error carries the reason for every photo
        if (error instanceof ApiError && error.body && Array.isArray(error.body.skipped)) {
          showSkipped(error.body.skipped);
        }
        throw error;
      }
      const person = fmtText(data.person ?? name);
      const enrolled = Number(data.enrolled ?? 0);
      const skipped = Array.isArray(data.skipped) ? data.skipped : [];
      const summary =
        `${person}: ${enrolled} sample${enrolled === 1 ? "" : "s"} enrolled` +
        (skipped.length ? `, ${skipped.length} skipped.` : ".");
      setStatus("enrol-status", summary);
      showSkipped(skipped);
      $("enrol-images").value = "";
      if (peopleLoaded) loadPeople(true);
    });
  });

  // ---------------------------------------------------------------- identify

  /** Decode a File for drawing; null when this browser cannot decode it. */
  function loadImage(file) {
    return new Promise((resolve) => {
      const url = URL.createObjectURL(file);
      const image = new Image();
      image.onload = () => resolve({ image, url });
      image.onerror = () => {
        URL.revokeObjectURL(url);
        resolve(null);
      };
      image.src = url;
    });
  }

  /** The decided name of a face (null = unknown); accepts {person} or {decision:{person}}. */
  function faceName(face) {
    if (face.decision && typeof face.decision === "object" && "person" in face.decision) {
      return face.decision.person ?? null;
    }
    return face.person ?? null;
  }

  function faceScore(face) {
    if (typeof face.score === "number") return face.score;
    return face.decision && typeof face.decision.score === "number" ? face.decision.score : null;
  }

  function faceLabel(face, index) {
    return `${index + 1}. ${faceName(face) ?? "unknown"}`;
  }

  function drawFaces(decoded, faces) {
    const { image } = decoded;
    const w = image.naturalWidth;
    const h = image.naturalHeight;
    // Small photos are drawn larger so that labels stay legible.
    const scale = Math.max(1, Math.min(4, 640 / Math.max(w, h)));
    const canvas = el("canvas", { class: "photo", role: "img" });
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    const line = Math.max(2, Math.round(Math.min(canvas.width, canvas.height) / 160));
    const fontSize = Math.max(14, Math.round(Math.min(canvas.width, canvas.height) / 24));
    ctx.font = `600 ${fontSize}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    faces.forEach((face, index) => {
      const box = Array.isArray(face.bbox) ? face.bbox.map((v) => Number(v) * scale) : null;
      if (!box || box.length < 4 || box.some((v) => !Number.isFinite(v))) return;
      const [x1, y1, x2, y2] = box;
      const known = faceName(face) !== null;
      const colour = known ? "#0a7d32" : "#b45309";
      ctx.lineWidth = line;
      ctx.strokeStyle = colour;
      ctx.setLineDash(known ? [] : [line * 3, line * 2]); // unknown: dashed, not colour alone
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      ctx.setLineDash([]);
      const label = faceLabel(face, index);
      const pad = Math.round(fontSize / 4);
      const textWidth = Math.min(ctx.measureText(label).width, canvas.width - 2 * pad);
      const boxHeight = fontSize + 2 * pad;
      const lx = Math.max(0, Math.min(x1, canvas.width - textWidth - 2 * pad));
      const ly = y1 - boxHeight >= 0 ? y1 - boxHeight : Math.min(y2, canvas.height - boxHeight);
      ctx.fillStyle = colour;
      ctx.fillRect(lx, ly, textWidth + 2 * pad, boxHeight);
      ctx.fillStyle = "#ffffff";
      ctx.fillText(label, lx + pad, ly + pad, textWidth);
    });
    return canvas;
  }

  /** "A stranger would score this high ... about 1 time in N": the score read as a rate. */
  function strangerOdds(rate, people) {
    if (typeof rate !== "number" || !(rate > 0)) return "";
    const who = typeof people === "number"
      ? `against this gallery of ${people.toLocaleString("en")} ${people === 1 ? "person" : "people"}`
      : "against this gallery";
    if (rate >= 0.5) return `A stranger would score this high ${who} more often than not.`;
    const n = 1 / rate;
    const shown = n < 100 ? Math.round(n) : Number(n.toPrecision(2));
    return `A stranger would score this high ${who} about 1 time in ${shown.toLocaleString("en")}.`;
  }

  $("identify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const file = ($("identify-image").files || [])[0];
    if (!file) return fieldError($("identify-image"), "Choose a photo to identify.");
    const top = Math.min(100, Math.max(1, parseInt($("identify-top").value, 10) || 5));
    const body = new FormData();
    body.append("image", file, file.name);

    busy(submitterOf(form), "identify-status", "Identifying…", async () => {
      const out = $("identify-result");
      out.replaceChildren();
      const [data, decoded] = await Promise.all([
        api(`v1/identify?top=${top}`, { method: "POST", body }),
        loadImage(file),
      ]);
      const faces = Array.isArray(data.faces) ? data.faces : [];
      const names = faces.map((face, i) => faceLabel(face, i));
      setStatus(
        "identify-status",
        faces.length
          ? `Found ${faces.length} face${faces.length === 1 ? "" : "s"}: ${names.join("; ")}.`
          : "No face found in the photo.",
      );

      if (decoded) {
        const canvas = drawFaces(decoded, faces);
        canvas.setAttribute(
          "aria-label",
          faces.length ? `The photo with faces marked: ${names.join("; ")}` : "The photo, no face found",
        );
        out.append(el("figure", null, canvas,
          el("figcaption", null, "Solid box: recognised. Dashed box: unknown.")));
        URL.revokeObjectURL(decoded.url);
      } else {
        out.append(el("p", { class: "hint" }, "This browser cannot draw the photo; results below."));
      }

      if (!faces.length) return;
      out.append(el("h3", null, "Results"));
      const list = el("ol", { class: "faces" });
      faces.forEach((face, index) => {
        const name = faceName(face);
        const score = faceScore(face);
        const threshold = face.decision && typeof face.decision.threshold === "number"
          ? face.decision.threshold : face.threshold;
        const candidates = Array.isArray(face.candidates) ? face.candidates : [];
        const decision = face.decision || {};
        const item = el("li", { class: name === null ? "face unknown" : "face known" },
          el("strong", { class: "face-name" }, name ?? "unknown"),
          ` — score ${fmtNumber(score)}`,
          typeof threshold === "number" ? ` (threshold ${fmtNumber(threshold)})` : "");
        const odds = strangerOdds(decision.fpir_at_score, decision.gallery_size);
        if (odds) item.append(el("br"), el("span", { class: "odds" }, odds));
        if (name === null && candidates.length) {
          item.append(el("br"), `Closest enrolled person: ${fmtText(candidates[0].person)} ` +
            `(${fmtNumber(candidates[0].score)}), below the threshold.`);
        }
        if (candidates.length) {
          item.append(el("details", null,
            el("summary", null, `Candidates for face ${index + 1}`),
            el("ol", null, candidates.map((c) =>
              el("li", null, `${fmtText(c.person)}: ${fmtNumber(c.score)}`)))));
        }
        list.append(item);
      });
      out.append(list);
    });
  });

  // ---------------------------------------------------------------- verify

  $("verify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const a = ($("verify-a").files || [])[0];
    const b = ($("verify-b").files || [])[0];
    if (!a) return fieldError($("verify-a"), "Choose the first photo.");
    if (!b) return fieldError($("verify-b"), "Choose the second photo.");
    const body = new FormData();
    body.append("image_a", a, a.name);
    body.append("image_b", b, b.name);

    busy(submitterOf(form), "verify-status", "Comparing…", async () => {
      $("verify-result").replaceChildren();
      const data = await api("v1/verify", { method: "POST", body });
      const same = data.verified ?? data.same ?? data.match;
      const score = data.score ?? data.similarity;
      const verdict = same ? "Same person" : "Different people";
      setStatus("verify-status",
        `${verdict}: score ${fmtNumber(score)}, threshold ${fmtNumber(data.threshold)}.`);
      $("verify-result").append(
        el("p", { class: same ? "verdict same" : "verdict different" }, verdict),
        definitionList([
          ["Score", fmtNumber(score)],
          ...(typeof data.fmr === "number" && data.fmr > 0
            ? [["Stranger pairs this alike", `about 1 in ${Number((1 / data.fmr).toPrecision(2))
              .toLocaleString("en")}`]]
            : []),
          ["Threshold", fmtNumber(data.threshold)],
          ["Operating point", data.operating_point],
          ["Model", data.model],
          ["Metric", data.metric],
        ]),
      );
    });
  });

  // ---------------------------------------------------------------- analyse

  /** A face's gender as shown: "uncertain" (and why) when the service abstains (null). */
  function genderText(face) {
    const confidence = `confidence ${fmtNumber(face.gender_confidence, 2)}`;
    if (face.gender === null) return `uncertain (${fmtText(face.gender_reason)})`;
    return `${fmtText(face.gender)} (${confidence})`;
  }

  $("analyze-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const file = ($("analyze-image").files || [])[0];
    if (!file) return fieldError($("analyze-image"), "Choose a photo.");
    const body = new FormData();
    body.append("image", file, file.name);
    busy(submitterOf(form), "analyze-status", "Analysing…", async () => {
      $("analyze-result").replaceChildren();
      const data = await api("v1/analyze?what=age,gender,expression", { method: "POST", body });
      setStatus("analyze-status", `${data.faces.length} face(s) found.`);
      data.faces.forEach((face, i) => {
        const [lo, hi] = face.age_range || [];
        $("analyze-result").append(
          el("h3", null, `Face ${i + 1}`),
          definitionList([
            ["Age", `${fmtNumber(face.age, 0)} (80% range ${lo}–${hi}` +
              `${face.age_beyond_range ? "; beyond the model's range, likely older" : ""})`],
            ["Gender", genderText(face)],
            ["Expression", fmtText(face.expression)],
          ]),
        );
      });
    });
  });

  // ---------------------------------------------------------------- people

  let peopleLoaded = false;

  function loadPeople(quiet) {
    const button = $("people-load");
    return busy(button, quiet ? null : "people-status", "Loading people…", async () => {
      const data = await api("v1/people");
      const people = Array.isArray(data.people) ? data.people : [];
      peopleLoaded = true;
      setStatus("people-status",
        `${people.length} ${people.length === 1 ? "person" : "people"} enrolled.`);
      const list = el("ul", { class: "people" });
      for (const person of people) {
        const name = String(person.name);
        const samples = Number(person.samples ?? 0);
        list.append(el("li", { class: "person" },
          el("span", { class: "person-name" }, name),
          el("span", { class: "hint" },
            ` ${samples} sample${samples === 1 ? "" : "s"}, since ${fmtText(person.created_at)}`),
          el("span", { class: "buttons" },
            el("button", { type: "button", class: "secondary", onclick: () => showPerson(name) },
              "Show samples", srOnly(` of ${name}`)),
            el("button", { type: "button", class: "danger", onclick: () => askForget(name) },
              "Forget…", srOnly(` ${name}`)))));
      }
      $("people-result").replaceChildren(people.length ? list : el("p", null, "Nobody yet."));
    });
  }

  $("people-load").addEventListener("click", () => loadPeople(false));

  function showPerson(name) {
    return busy($("people-load"), "people-status", `Loading ${name}…`, async () => {
      const data = await api(personPath(name));
      const samples = Array.isArray(data.samples) ? data.samples : [];
      const heading = el("h3", { id: "person-heading", tabindex: "-1" }, String(data.name ?? name));
      const list = el("ol", { class: "samples" });
      for (const s of samples) {
        list.append(el("li", { class: "sample" }, definitionList([
          ["Sample", s.id],
          ["Consent", s.consent],
          ["Source", s.source],
          ["Enrolled", s.enrolled_at],
          ["Enrolled by", s.enrolled_by],
          ["Expires", s.expires_at ?? "never"],
          ["Quality", typeof s.quality === "number" ? fmtNumber(s.quality, 3) : s.quality],
          ["Face box", Array.isArray(s.bbox) ? s.bbox.map((v) => Math.round(v)).join(", ") : s.bbox],
        ])));
      }
      $("person-detail").replaceChildren(
        heading,
        el("p", null, `Enrolled since ${fmtText(data.created_at)}; ` +
          `${samples.length} sample${samples.length === 1 ? "" : "s"}.`),
        list,
      );
      setStatus("people-status", `Showing ${samples.length} sample${samples.length === 1 ? "" : "s"} of ${String(data.name ?? name)}.`);
      heading.focus();
    });
  }

  // ---------------------------------------------------------------- forget

  let pendingForget = null;
  let receiptUrl = null;

  function askForget(name) {
    clearError();
    pendingForget = name;
    $("forget-name").value = name;
    $("forget-confirm-text").textContent =
      `Forget “${name}”? Every sample of this person is erased for good. This cannot be undone.`;
    $("forget-yes").replaceChildren("Yes, forget ", srOnly(name));
    $("forget-confirm").hidden = false;
    $("forget-confirm").focus();
  }

  function closeConfirm() {
    pendingForget = null;
    $("forget-confirm").hidden = true;
  }

  $("forget-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("forget-name").value.trim();
    if (!name) return fieldError($("forget-name"), "Enter the name of the person to forget.");
    askForget(name);
  });

  $("forget-no").addEventListener("click", () => {
    closeConfirm();
    setStatus("forget-status", "Cancelled: nobody was forgotten.");
    $("forget-name").focus();
  });

  $("forget-confirm").addEventListener("keydown", (event) => {
    if (event.key === "Escape") $("forget-no").click();
  });

  $("forget-yes").addEventListener("click", () => {
    const name = pendingForget;
    if (!name) return;
    busy($("forget-yes"), "forget-status", `Forgetting ${name}…`, async () => {
      const receipt = await api(`${personPath(name)}/forget`, { method: "POST" });
      closeConfirm();
      const text = JSON.stringify(receipt, null, 2);
      if (receiptUrl) URL.revokeObjectURL(receiptUrl);
      receiptUrl = URL.createObjectURL(new Blob([text + "\n"], { type: "application/json" }));
      const slug = name.replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "") || "person";
      const verified = typeof receipt.verified === "boolean"
        ? (receipt.verified ? " The erasure was verified." : " The erasure could NOT be verified.")
        : "";
      setStatus("forget-status", `Forgot ${name}. Erasure receipt below.${verified}`);
      const heading = el("h3", { tabindex: "-1" }, "Erasure receipt");
      $("forget-result").replaceChildren(
        heading,
        el("pre", { class: "receipt", tabindex: "0", "aria-label": "Erasure receipt (JSON)" }, text),
        el("p", null, el("a", { href: receiptUrl, download: `facewise-erasure-receipt-${slug}.json` },
          "Download the receipt (.json)")),
      );
      heading.focus();
      if (peopleLoaded) {
        $("person-detail").replaceChildren();
        loadPeople(true);
      }
    });
  });

  // ---------------------------------------------------------------- audit

  $("audit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const limit = Math.min(1000, Math.max(1, parseInt($("audit-limit").value, 10) || 100));
    busy(submitterOf(form), "audit-status", "Loading the audit log…", async () => {
      const data = await api(`v1/audit?limit=${limit}`);
      const events = Array.isArray(data.events) ? data.events : [];
      setStatus("audit-status", `${events.length} event${events.length === 1 ? "" : "s"} shown.`);
      const list = el("ol", { class: "events" });
      for (const e of events) {
        list.append(el("li", { class: "event" },
          el("p", { class: "event-head" },
            el("span", { class: "event-seq" }, `#${fmtText(e.seq)} `),
            el("strong", { class: "event-action" }, fmtText(e.action)),
            " — ",
            el("span", { class: "event-subject" }, fmtText(e.subject))),
          definitionList([
            ["At", e.at],
            ["By", e.actor],
            ["Details", el("code", null, fmtText(e.details))],
            ["Hash", el("code", { class: "hash" }, fmtText(e.hash))],
          ], "pairs compact")));
      }
      $("audit-result").replaceChildren(events.length ? list : el("p", null, "No events."));
    });
  });

  $("audit-verify").addEventListener("click", () => {
    busy($("audit-verify"), "audit-verify-status", "Verifying the chain…", async () => {
      const data = await api("v1/audit/verify");
      const ok = data.ok === true;
      setStatus("audit-verify-status", ok
        ? "The audit chain is intact."
        : "The audit chain is BROKEN: the log was altered.");
      const rest = Object.entries(data).filter(([k]) => k !== "ok");
      $("audit-verify-result").replaceChildren(rest.length ? definitionList(rest) : "");
    });
  });

  // ---------------------------------------------------------------- collections

  const COLLECTION_STORAGE = "facewise.collection";
  const COLLECTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
  const MAX_UPLOAD = 20; // files per request, as the API takes
  let collection = null; // the name of the collection shown
  let collectionData = null; // its last summary
  const thumbUrls = new Map(); // face id -> object URL, for the collection shown
  const thumbQueue = [];
  let thumbsRunning = 0;

  const collectionPath = (name) => `v1/collections/${encodeURIComponent(name)}`;
  const clusterLabel = (c) => (c.name ? String(c.name) : `Unnamed person ${c.id}`);
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  function forgetThumbnails() {
    for (const url of thumbUrls.values()) URL.revokeObjectURL(url);
    thumbUrls.clear();
    thumbQueue.length = 0;
  }

  /** Fetch a face thumbnail with the key (an <img src> cannot send it) as an object URL. */
  async function fetchThumbnail(name, face) {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const response = await fetch(`${collectionPath(name)}/faces/${face}/thumbnail`, {
        headers: { Authorization: `Bearer ${getKey()}` },
        credentials: "omit",
      });
      if (response.status === 429) { // the key's rate limit: wait as told, then again
        const wait = Math.min(10, Number(response.headers.get("Retry-After")) || 1);
        await new Promise((resolve) => setTimeout(resolve, wait * 1000));
        continue;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return URL.createObjectURL(await response.blob());
    }
    throw new Error("rate limited");
  }

  function pumpThumbnails() {
    while (thumbsRunning < 4 && thumbQueue.length) {
      const { name, face, images } = thumbQueue.shift();
      thumbsRunning += 1;
      fetchThumbnail(name, face)
        .then((url) => {
          if (name !== collection) return URL.revokeObjectURL(url);
          thumbUrls.set(face, url);
          for (const image of images) image.src = url;
        })
        .catch(() => {
          for (const image of images) image.classList.add("broken");
        })
        .finally(() => {
          thumbsRunning -= 1;
          pumpThumbnails();
        });
    }
  }

  /** An <img> of a face; its picture arrives when fetched (once per face). */
  function faceImage(face, alt, className) {
    const image = el("img", { class: className || "thumb", alt, width: 96, height: 96 });
    const id = Number(face);
    if (thumbUrls.has(id)) {
      image.src = thumbUrls.get(id);
    } else {
      const queued = thumbQueue.find((item) => item.face === id && item.name === collection);
      if (queued) queued.images.push(image);
      else thumbQueue.push({ name: collection, face: id, images: [image] });
      pumpThumbnails();
    }
    return image;
  }

  function collectionInput() {
    const input = $("collection-name");
    const name = input.value.trim();
    if (!COLLECTION_NAME.test(name)) {
      fieldError(input, "A collection name is 1-64 letters, digits, _ or -.");
      return null;
    }
    return name;
  }

  /** Run a decision on the collection shown: the answer is the new collection. */
  function decide(button, path, body, working, done) {
    const name = collection;
    return busy(button, "collection-status", working, async () => {
      const data = await api(`${collectionPath(name)}/${path}`, {
        method: "POST",
        body: body === undefined ? undefined : JSON.stringify(body),
        json: body !== undefined,
      });
      showCollection(name, data);
      done(data);
    });
  }

  function focusById(id) {
    const node = id ? document.getElementById(id) : null;
    if (node) node.focus();
    return Boolean(node);
  }

  function renderCluster(c) {
    const label = clusterLabel(c);
    const headingId = `cluster-${c.id}-heading`;
    const inputId = `cluster-${c.id}-name`;
    const faces = Array.isArray(c.faces) ? c.faces : [];
    const cover = faces.find((f) => f.face === c.cover) || faces[0];

    const nameForm = el("form", { class: "cluster-name", novalidate: true },
      el("label", { for: inputId }, c.name ? "Rename this person" : "Name this person"),
      el("div", { class: "inline" },
        el("input", { id: inputId, type: "text", autocomplete: "off", required: true,
          value: c.name || "" }),
        el("button", { type: "submit" }, "Save name", srOnly(` for ${label}`))));
    nameForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $(inputId);
      const wanted = input.value.trim();
      if (!wanted) return fieldError(input, "Enter the person's name.");
      decide(submitterOf(nameForm), `clusters/${c.id}/name`, { name: wanted },
        `Naming ${label}…`, () => {
          setStatus("collection-status", `Named ${label}: ${wanted}.`);
          focusById(headingId);
        });
    });

    const grid = el("ul", { class: "face-grid", "aria-label": `Faces of ${label}` });
    faces.forEach((f, index) => {
      const what = `face ${index + 1} of ${label}`;
      const remove = el("button", { type: "button", class: "secondary small",
        id: `face-${f.face}-reject` }, "Not this person", srOnly(`: ${what}`));
      remove.addEventListener("click", () => {
        const next = faces[index + 1] || faces[index - 1];
        decide(remove, `faces/${f.face}/reject`, undefined, `Taking out ${what}…`, () => {
          setStatus("collection-status", `Took ${what} out; it is listed apart now.`);
          if (!(next && focusById(`face-${next.face}-reject`))) {
            focusById(headingId) || $("collection-heading").focus();
          }
        });
      });
      grid.append(el("li", { class: "face-tile" },
        faceImage(f.face, `Face ${index + 1} of ${label}, from ${fmtText(f.path)}`),
        el("span", { class: "face-source" }, fmtText(f.path)),
        remove));
    });

    return el("li", { class: "cluster", id: `cluster-${c.id}` },
      el("div", { class: "cluster-head" },
        cover ? faceImage(cover.face, `Cover face of ${label}`, "cover") : "",
        el("div", null,
          el("h3", { id: headingId, tabindex: "-1" }, label),
          el("p", { class: "hint" }, plural(Number(c.size ?? faces.length), "face", "faces"),
            c.person ? ` — enrolled as ${c.person}` : ""),
          el("div", { class: "check" },
            el("input", { type: "checkbox", id: `cluster-${c.id}-pick`, class: "merge-pick",
              "data-cluster": c.id }),
            el("label", { for: `cluster-${c.id}-pick` }, "Select to merge",
              srOnly(` ${label}`))))),
      nameForm,
      el("details", { open: faces.length <= 12 },
        el("summary", null, `All ${plural(faces.length, "face", "faces")}`),
        grid));
  }

  /** A face in no group: its thumbnail, and a choice of group to put it in. */
  function renderApart(f, index, clusters) {
    const what = `face ${index + 1} not in a group`;
    const tile = el("li", { class: "face-tile" },
      faceImage(f.face, `Face ${index + 1} not in a group, from ${fmtText(f.path)}`),
      el("span", { class: "face-source" }, fmtText(f.path)));
    if (!clusters.length) return tile;
    const selectId = `face-${f.face}-group`;
    const select = el("select", { id: selectId },
      el("option", { value: "" }, "Choose a group"),
      clusters.map((c) => el("option", { value: c.id }, clusterLabel(c))));
    const move = el("button", { type: "button", class: "secondary small",
      id: `face-${f.face}-move` }, "Move", srOnly(` ${what}`));
    move.addEventListener("click", () => {
      const cluster = Number(select.value);
      if (!cluster) return fieldError(select, "Choose the group to put the face in.");
      const target = clusters.find((c) => c.id === cluster);
      decide(move, `faces/${f.face}/move`, { cluster }, `Moving ${what}…`, () => {
        setStatus("collection-status", `Put ${what} into ${clusterLabel(target)}.`);
        focusById(`cluster-${cluster}-heading`);
      });
    });
    tile.append(el("label", { for: selectId, class: "small-label" }, "Put in group"),
      select, move);
    return tile;
  }

  function mergePicked(button) {
    const picked = Array.from(document.querySelectorAll("#collection-result .merge-pick:checked"))
      .map((box) => Number(box.dataset.cluster));
    if (picked.length !== 2) {
      showError(new ApiError(0, "invalid_input", "Select exactly two groups to merge."));
      button.focus();
      return;
    }
    const clusters = collectionData.clusters;
    const [a, b] = picked.map((id) => clusters.find((c) => c.id === id));
    // keep the named one (or the larger one) and move the other's faces into it
    const into = (!a.name && b.name) || (!a.name === !b.name && b.size > a.size) ? b : a;
    const other = into === a ? b : a;
    decide(button, `clusters/${into.id}/merge`, { other: other.id },
      `Merging ${clusterLabel(other)} into ${clusterLabel(into)}…`, () => {
        setStatus("collection-status",
          `Merged ${clusterLabel(other)} into ${clusterLabel(into)}.`);
        focusById(`cluster-${into.id}-heading`);
      });
  }

  // The yes/no queue: one question at a time, the most useful first.
  let questions = []; // the queue of the collection shown
  let questionAt = 0; // the question on screen (Skip moves on)
  let focusQuestion = false; // after an answer: focus the next question once it is shown
  let questionsAsked = 0; // a newer load wins over an older one

  async function loadQuestions(name) {
    const ticket = ++questionsAsked;
    let data;
    try {
      data = await api(`${collectionPath(name)}/questions?limit=20`);
    } catch (error) {
      if (ticket !== questionsAsked || name !== collection) return;
      const box = $("collection-questions");
      if (box) box.replaceChildren(el("p", { class: "hint" }, "Questions could not be loaded."));
      return;
    }
    if (ticket !== questionsAsked || name !== collection) return;
    questions = Array.isArray(data.queue) ? data.queue : [];
    questionAt = 0;
    renderQuestion();
  }

  function renderQuestion() {
    const box = $("collection-questions");
    if (!box) return;
    const heading = el("h3", { id: "questions-heading", tabindex: "-1" }, "Is this the same person?");
    const q = questions[questionAt];
    if (!q) {
      box.replaceChildren(heading, el("p", { class: "hint", id: "questions-none" },
        questions.length ? "No more questions for now." :
          "No questions: name a group first, or every answer is already sure."));
      if (focusQuestion) heading.focus();
      focusQuestion = false;
      return;
    }
    const person = q.name ? String(q.name) : `Unnamed person ${q.cluster}`;
    const merge = q.other !== null && q.other !== undefined;
    const size = Number(q.size) || 1;
    const about = merge ? `these ${plural(size, "face", "faces")}` : "this face";
    const shown = merge ? q.other_cover : q.face;
    const sure = Number(q.confidence) * 100;
    const left = questions.length - questionAt;
    const yes = el("button", { type: "button", id: "question-yes" }, "Yes",
      srOnly(` — ${about} ${size === 1 ? "is" : "are"} ${person}`));
    const no = el("button", { type: "button", id: "question-no", class: "secondary" }, "No",
      srOnly(` — not ${person}`));
    const skip = el("button", { type: "button", id: "question-skip", class: "secondary" },
      "Skip", srOnly(" this question"));
    const reply = (button, answer) => {
      const body = { cluster: q.cluster, answer };
      if (merge) body.other = q.other; else body.face = q.face;
      focusQuestion = true;
      decide(button, "questions/answer", body, "Saving your answer…", () => {
        setStatus("collection-status", answer === "yes"
          ? `Yes: ${about} ${size === 1 ? "is" : "are"} ${person} now.`
          : `No: ${about} will not be put with ${person}.`);
      });
    };
    yes.addEventListener("click", () => reply(yes, "yes"));
    no.addEventListener("click", () => reply(no, "no"));
    skip.addEventListener("click", () => {
      questionAt += 1;
      focusQuestion = true;
      renderQuestion();
    });
    box.replaceChildren(heading,
      el("p", { class: "hint" }, `${plural(left, "question", "questions")} left; ` +
        "each answer names as many faces as it can."),
      el("div", { class: "question-faces" },
        el("figure", null,
          shown ? faceImage(shown, merge ? `A face of the ${plural(size, "face", "faces")} asked about`
            : "The face asked about", "cover") : "",
          el("figcaption", null, merge ? `${plural(size, "face", "faces")}` : "This face")),
        el("figure", null,
          q.cover ? faceImage(q.cover, `Cover face of ${person}`, "cover") : "",
          el("figcaption", null, person))),
      el("p", { id: "question-text" },
        `${size === 1 ? "Is" : "Are"} ${about} ${person}? ` +
        `facewise puts the chance of yes at ${sure > 99 ? "over 99" : sure < 1 ? "under 1" : Math.round(sure)}%.`),
      el("div", { class: "buttons" }, yes, no, skip));
    if (focusQuestion) yes.focus();
    focusQuestion = false;
  }

  function showCollection(name, data) {
    if (name !== collection) forgetThumbnails();
    collection = name;
    collectionData = data;
    sessionStorage.setItem(COLLECTION_STORAGE, name);
    const clusters = Array.isArray(data.clusters) ? data.clusters : [];
    const alone = Array.isArray(data.unclustered) ? data.unclustered : [];
    const out = $("collection-result");
    const heading = el("h3", { id: "collection-shown", tabindex: "-1" }, `Collection ${name}`);
    const parts = [heading,
      el("p", null, `${plural(clusters.length, "person", "people")} seen more than once; ` +
        `${plural(alone.length, "face", "faces")} apart.`),
      el("section", { id: "collection-questions", class: "questions",
        "aria-labelledby": "questions-heading" })];
    if (clusters.length) {
      const merge = el("button", { type: "button", class: "secondary", id: "collection-merge" },
        "Merge the two selected");
      merge.addEventListener("click", () => mergePicked(merge));
      parts.push(
        el("div", { class: "buttons" }, merge),
        el("ol", { class: "clusters", "aria-label": "People in this collection" },
          clusters.map(renderCluster)));
    }
    if (alone.length) {
      parts.push(
        el("h3", null, "Seen once, or taken out"),
        el("ul", { class: "face-grid apart", "aria-label": "Faces not in a group" },
          alone.map((f, index) => renderApart(f, index, clusters))));
    }
    if (!clusters.length && !alone.length) parts.push(el("p", null, "No faces yet: add photos."));
    out.replaceChildren(...parts);
    loadQuestions(name);
  }

  function openCollection(name, button, focus) {
    return busy(button, "collection-status", `Opening ${name}…`, async () => {
      $("collection-added").replaceChildren();
      let data;
      try {
        data = await api(collectionPath(name));
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          collection = null;
          $("collection-result").replaceChildren();
          setStatus("collection-status", `No collection ${name} yet: add photos to start it.`);
          $("collection-photos").focus();
          return;
        }
        throw error;
      }
      showCollection(name, data);
      setStatus("collection-status", `Showing collection ${name}.`);
      if (focus) $("collection-shown").focus();
    });
  }

  $("collection-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = collectionInput();
    if (name) openCollection(name, submitterOf(event.target), true);
  });

  $("collection-list").addEventListener("click", () => {
    busy($("collection-list"), "collection-status", "Listing collections…", async () => {
      const data = await api("v1/collections");
      const rows = Array.isArray(data.collections) ? data.collections : [];
      $("collection-names").replaceChildren(...rows.map((r) => el("option", { value: r.name })));
      const list = el("ul", { class: "collections" });
      for (const r of rows) {
        const name = String(r.name);
        const open = el("button", { type: "button", class: "secondary small" }, "Open",
          srOnly(` ${name}`));
        open.addEventListener("click", () => {
          $("collection-name").value = name;
          openCollection(name, open, true);
        });
        list.append(el("li", null, el("strong", null, name),
          ` — ${plural(Number(r.clusters), "group", "groups")} (${Number(r.named)} named), ` +
          `${plural(Number(r.faces), "face", "faces")} `, open));
      }
      setStatus("collection-status", `${plural(rows.length, "collection", "collections")}.`);
      $("collection-names-result").replaceChildren(rows.length ? list : el("p", null, "None yet."));
    });
  });

  $("collection-upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = collectionInput();
    if (!name) return;
    const files = Array.from($("collection-photos").files || []);
    if (!files.length) return fieldError($("collection-photos"), "Choose photos to add.");
    busy(submitterOf(event.target), "collection-status", `Adding ${plural(files.length, "photo", "photos")}…`, async () => {
      const total = { photos_added: 0, photos_known: 0, faces_added: 0, errors: [] };
      let data = null;
      for (let start = 0; start < files.length; start += MAX_UPLOAD) {
        const body = new FormData();
        for (const file of files.slice(start, start + MAX_UPLOAD)) body.append("image", file, file.name);
        data = await api(`${collectionPath(name)}/photos`, { method: "POST", body });
        const added = data.added || {};
        for (const k of ["photos_added", "photos_known", "faces_added"]) total[k] += Number(added[k] || 0);
        if (Array.isArray(added.errors)) total.errors.push(...added.errors);
      }
      showCollection(name, data);
      $("collection-photos").value = "";
      setStatus("collection-status",
        `Added ${plural(total.photos_added, "photo", "photos")} ` +
        `(${plural(total.faces_added, "face", "faces")}) to ${name}` +
        (total.photos_known ? `; ${total.photos_known} already there` : "") +
        (total.errors.length ? `; ${total.errors.length} could not be read.` : "."));
      $("collection-added").replaceChildren(total.errors.length
        ? el("div", null, el("h3", null, "Photos not added"),
          el("ul", null, total.errors.map((e) => el("li", null,
            `${fmtText(e.path)}: ${fmtText(e.error && e.error.message)}`))))
        : "");
    });
  });

  // ---------------------------------------------------------------- video

  /** Call the API for a binary answer (a picture): {blob, response}, or an ApiError. */
  async function apiBlob(path, { method = "POST", body } = {}) {
    const key = getKey();
    if (!key) {
      $("api-key").focus();
      throw new ApiError(0, "no_key", "Enter an API key first (API key section).");
    }
    let response;
    try {
      response = await fetch(path, {
        method, body, cache: "no-store", credentials: "omit",
        headers: { Authorization: `Bearer ${key}` },
      });
    } catch (error) {
      throw new ApiError(0, "network", `Could not reach the server: ${error.message}`);
    }
    if (!response.ok) {
      let data = null;
      try {
        data = JSON.parse(await response.text());
      } catch {
        data = null;
      }
      throw responseError(response, data);
    }
    return { blob: await response.blob(), response };
  }

  const seconds = (value) => (typeof value === "number" && Number.isFinite(value)
    ? `${value.toFixed(1)} s` : "—");

  /** One lane per track: its name and its segments as bars over the clip's duration. */
  function drawTimeline(segments, duration) {
    const byTrack = new Map();
    for (const s of segments) {
      if (!byTrack.has(s.track)) byTrack.set(s.track, []);
      byTrack.get(s.track).push(s);
    }
    const rows = el("ul", { class: "timeline-rows" });
    for (const [track, parts] of byTrack) {
      const person = parts[0].person ?? null;
      const name = person ?? "unknown";
      const lane = el("div", { class: "timeline-lane", "aria-hidden": "true" });
      for (const part of parts) {
        const start = Math.max(0, Number(part.start) || 0);
        const end = Math.min(duration, Math.max(start, Number(part.end) || 0));
        const bar = el("span", {
          class: person === null ? "timeline-bar unknown" : "timeline-bar known",
          title: `${name}: ${seconds(start)} to ${seconds(end)}`,
        });
        // CSSOM properties (allowed by the page's CSP, unlike style attributes)
        bar.style.left = `${(100 * start) / duration}%`;
        bar.style.width = `${(100 * (end - start)) / duration}%`;
        lane.append(bar);
      }
      rows.append(el("li", { class: "timeline-row" },
        el("span", { class: "timeline-name" }, name, " ",
          el("span", { class: "track-id" }, `(track ${fmtText(track)})`)),
        lane));
    }
    return el("figure", { class: "timeline" },
      el("figcaption", null, `Who appears when, over the clip's ${seconds(duration)}`),
      rows,
      el("p", { class: "timeline-axis", "aria-hidden": "true" },
        el("span", null, "0 s"), el("span", null, seconds(duration))),
      el("p", { class: "timeline-legend" },
        "Green bars: an enrolled person. Striped bars: unknown. The table below lists the same."));
  }

  function segmentTable(segments) {
    const body = el("tbody", null, segments.map((s) => el("tr", null,
      el("td", null, s.person ?? "unknown"),
      el("td", { class: "num" }, fmtText(s.track)),
      el("td", { class: "num" }, seconds(s.start)),
      el("td", { class: "num" }, seconds(s.end)),
      el("td", { class: "num" }, fmtNumber(s.confidence, 3)))));
    return el("div", { class: "table-scroll" }, el("table", { class: "segments" },
      el("caption", null, "Segments: who appears when"),
      el("thead", null, el("tr", null,
        ["Person", "Track", "From", "To", "Score"].map((h) => el("th", { scope: "col" }, h)))),
      body));
  }

  $("video-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const file = ($("video-file").files || [])[0];
    if (!file) return fieldError($("video-file"), "Choose a video clip.");
    const every = Math.min(30, Math.max(1, parseInt($("video-every").value, 10) || 3));
    const body = new FormData();
    body.append("video", file, file.name);
    busy(submitterOf(form), "video-status", "Analysing the clip (this can take a while)…",
      async () => {
        const out = $("video-result");
        out.replaceChildren();
        const data = await api(`v1/video?every=${every}`, { method: "POST", body });
        const segments = Array.isArray(data.timeline) ? data.timeline : [];
        const fps = Number(data.fps) || 0;
        const ends = segments.map((s) => Number(s.end) || 0);
        const duration = Math.max(fps > 0 ? Number(data.frames) / fps : 0, ...ends, 0.001);
        const tracks = new Map(segments.map((s) => [s.track, s.person ?? "unknown"]));
        const names = Array.from(tracks, ([t, n]) => `${n} (track ${t})`);
        setStatus("video-status", segments.length
          ? `${plural(tracks.size, "face track", "face tracks")} in ${seconds(duration)}: ` +
            `${names.join("; ")}.`
          : `No face found in the clip (${seconds(duration)}).`);
        if (!segments.length) return;
        out.append(drawTimeline(segments, duration), segmentTable(segments));
      });
  });

  let blurredUrl = null;

  $("blur-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const file = ($("blur-image").files || [])[0];
    if (!file) return fieldError($("blur-image"), "Choose a photo.");
    const method = $("blur-method").value;
    const body = new FormData();
    body.append("image", file, file.name);
    busy(submitterOf(form), "blur-status", "Blurring the faces…", async () => {
      const out = $("blur-result");
      out.replaceChildren();
      const { blob, response } = await apiBlob(
        `v1/blur?method=${encodeURIComponent(method)}&format=png`, { body });
      const faces = Number(response.headers.get("X-Facewise-Faces") || 0);
      if (blurredUrl) URL.revokeObjectURL(blurredUrl);
      blurredUrl = URL.createObjectURL(blob);
      const base = file.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]+/g, "_") || "photo";
      setStatus("blur-status", faces
        ? `${plural(faces, "face", "faces")} covered. The photo below has no metadata.`
        : "No face found: the photo below is unchanged, but its metadata is gone.");
      out.append(
        el("figure", null,
          el("img", { class: "blurred", src: blurredUrl,
            alt: `The photo with ${plural(faces, "face", "faces")} covered` }),
          el("figcaption", null, el("a", { href: blurredUrl, download: `${base}-blurred.png` },
            "Download the blurred photo (.png)"))));
    });
  });

  // ---------------------------------------------------------------- liveness check (camera)

  const STEP_TEXT = { blink: "Blink once.", turn: "Turn your head to one side." };
  const CHALLENGE_FALLBACK = "If you cannot use a camera, or blinking or turning your head is " +
    "difficult for you, ask for another way to confirm you are present (for example a check " +
    "by a person).";
  const FRAME_MS = 250; // a frame every 250 ms; never more than one on its way
  let camera = null; // { stream, id, timer, busy } while a check runs

  function stopCamera() {
    if (!camera) return;
    clearInterval(camera.timer);
    for (const track of camera.stream.getTracks()) track.stop();
    const video = $("challenge-video");
    video.srcObject = null;
    video.hidden = true;
    $("challenge-stop").hidden = true;
    camera = null;
  }

  /** Show what the server says; true once it has decided. */
  function showChallenge(data) {
    const done = Array.isArray(data.done) ? data.done : [];
    const steps = Array.isArray(data.steps) ? data.steps : [];
    if (data.state === "pending") {
      $("challenge-step").textContent =
        `Step ${done.length + 1} of ${steps.length}: ${STEP_TEXT[data.step] || fmtText(data.step)}`;
      return false;
    }
    stopCamera();
    $("challenge-step").textContent = data.live ? "Passed: a live person." : "Not passed.";
    setStatus("challenge-status", fmtText(data.message));
    $("challenge-start").focus();
    return true;
  }

  async function sendFrame() {
    const own = camera;
    const video = $("challenge-video");
    if (!own || own.busy || !video.videoWidth) return; // the newest frame only
    own.busy = true;
    try {
      const scale = Math.min(1, 640 / video.videoWidth);
      const canvas = el("canvas", {
        width: Math.round(video.videoWidth * scale),
        height: Math.round(video.videoHeight * scale),
      });
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
      if (!blob || own !== camera) return;
      const body = new FormData();
      body.append("image", blob, "frame.jpg");
      const data = await api(`v1/challenge/${encodeURIComponent(own.id)}/frame`,
        { method: "POST", body });
      if (own === camera) showChallenge(data);
    } catch (error) {
      if (own === camera) {
        stopCamera();
        setStatus("challenge-status", "The check stopped: see the error message above.");
        showError(error);
      }
    } finally {
      own.busy = false;
    }
  }

  $("challenge-start").addEventListener("click", () => {
    busy($("challenge-start"), "challenge-status", "Starting the camera…", async () => {
      stopCamera();
      $("challenge-step").textContent = "";
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        setStatus("challenge-status", `This browser cannot use a camera here. ${CHALLENGE_FALLBACK}`);
        return;
      }
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false });
      } catch (error) {
        setStatus("challenge-status",
          `The camera could not be used (${fmtText(error && error.name)}). ${CHALLENGE_FALLBACK}`);
        return;
      }
      let data;
      try {
        data = await api("v1/challenge", { method: "POST" });
      } catch (error) {
        for (const track of stream.getTracks()) track.stop();
        throw error;
      }
      const video = $("challenge-video");
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      camera = { stream, id: String(data.id), busy: false, timer: setInterval(sendFrame, FRAME_MS) };
      $("challenge-stop").hidden = false;
      const asked = (Array.isArray(data.steps) ? data.steps : []).map((s) => STEP_TEXT[s] || s);
      setStatus("challenge-status",
        `Check started: ${asked.join(" Then: ")} You have ${Number(data.timeout_s)} seconds.`);
      showChallenge(data);
    });
  });

  $("challenge-stop").addEventListener("click", () => {
    stopCamera();
    $("challenge-step").textContent = "";
    setStatus("challenge-status", "Check stopped.");
    $("challenge-start").focus();
  });

  // ---------------------------------------------------------------- start

  const stored = getKey();
  if (stored) {
    $("api-key").value = stored;
    whoami().catch((error) => {
      setStatus("whoami", "The stored key was not accepted.");
      showError(error);
    });
    const shown = sessionStorage.getItem(COLLECTION_STORAGE);
    if (shown && COLLECTION_NAME.test(shown)) {
      $("collection-name").value = shown;
      openCollection(shown, submitterOf($("collection-form")), false);
    }
  }
})();
