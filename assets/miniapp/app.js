// The reelforge composer inside Telegram: the draft's still, the circle moved by hand, the
// styles, a free motion preview and the order. Every call carries Telegram's initData; the
// server checks it and draws what gets ordered.
(() => {
  "use strict";
  const tg = window.Telegram && window.Telegram.WebApp;
  const initData = (tg && tg.initData) || "";
  // The draft's key: from the chat's button, or (opened from the menu) the one the server
  // names; every later call is about that draft only.
  let key = new URLSearchParams(location.search).get("draft") || "";
  const $ = (id) => document.getElementById(id);

  // What the page must say before the server knows who opened it.
  const EARLY = {
    ru: { unauthorized: "Откройте редактор из чата с ботом", noDraft: "Черновика нет: начните ролик командой /create", retry: "Не получилось. Откройте редактор ещё раз из чата.", title: "Редактор" },
    kk: { unauthorized: "Редакторды бот чатынан ашыңыз", noDraft: "Жоба жоқ: роликті /create командасымен бастаңыз", retry: "Болмады. Редакторды чаттан қайта ашыңыз.", title: "Редактор" },
    en: { unauthorized: "Open the composer from the bot's chat", noDraft: "No draft here: start a video with /create", retry: "That did not work. Open the composer again from the chat.", title: "Composer" },
  };
  const userLang = ((tg && tg.initDataUnsafe && tg.initDataUnsafe.user && tg.initDataUnsafe.user.language_code) || navigator.language || "ru").slice(0, 2);
  const early = EARLY[userLang] || (userLang === "kk" ? EARLY.kk : userLang === "ru" ? EARLY.ru : EARLY.en);

  let d = null;         // the draft as the server described it
  let t = {};           // its texts
  let scale = 1;        // display px per output px
  let price = 0;
  let saving = null;
  let pending = false;
  let ordering = false;
  let stillUrl = null;

  function theme() {
    const root = document.documentElement;
    if (!tg) return;
    root.dataset.scheme = tg.colorScheme === "dark" ? "dark" : "light";
    const p = tg.themeParams || {};
    for (const [name, value] of Object.entries(p)) {
      if (typeof value === "string" && /^#[0-9a-fA-F]{3,8}$/.test(value)) {
        root.style.setProperty("--tg-theme-" + name.replace(/_/g, "-"), value);
      }
    }
  }

  function problem(text) {
    $("app").hidden = true;
    $("problemTitle").textContent = (t.title || early.title);
    $("problemText").textContent = text;
    $("problem").hidden = false;
    if (tg && tg.MainButton) tg.MainButton.hide();
  }

  async function call(path, body, raw) {
    const r = await fetch("/app/api/" + path, {
      method: "POST",
      headers: { "Authorization": "tma " + initData, "Content-Type": "application/json" },
      body: JSON.stringify(Object.assign({ key }, body || {})),
    });
    if (!r.ok) {
      let e = {};
      try { e = await r.json(); } catch (_) { /* not JSON */ }
      const err = new Error(e.message || String(r.status));
      err.status = r.status;
      err.code = e.error;
      throw err;
    }
    return raw ? r : r.json();
  }

  function fail(e) {
    if (e.status === 401) return problem(early.unauthorized);
    if (e.status === 404) return problem(early.noDraft);
    $("status").textContent = t.error || early.retry;
  }

  // --- the circle -------------------------------------------------------------------------
  const circle = { x: 0, y: 0, size: 100 };

  function diameter() {
    return Math.round(d.default_diameter * circle.size / 100 / 2) * 2;
  }
  function zone() {
    return d.zones.find((z) => z.name === d.safe_zone) || d.zones[d.zones.length - 1];
  }
  function clamp() {
    const z = zone(), dia = diameter();
    circle.x = Math.max(z.left, Math.min(circle.x, z.right - dia));
    circle.y = Math.max(z.top, Math.min(circle.y, z.bottom - dia));
  }
  function draw() {
    scale = $("stage").clientWidth / d.width;
    const z = zone(), el = $("circle"), dia = diameter();
    Object.assign($("zone").style, {
      left: z.left * scale + "px", top: z.top * scale + "px",
      width: (z.right - z.left) * scale + "px", height: (z.bottom - z.top) * scale + "px",
    });
    Object.assign(el.style, {
      left: circle.x * scale + "px", top: circle.y * scale + "px",
      width: dia * scale + "px", height: dia * scale + "px",
      boxShadow: $("ring").checked ? "0 0 0 " + Math.max(2, dia * scale / 40) + "px " + $("ringColor").value : "0 0 0 1px rgba(255,255,255,.6)",
    });
    el.hidden = !d.circle;
  }

  function dragging() {
    const el = $("circle");
    const pointers = new Map();
    let start = null;
    el.addEventListener("pointerdown", (ev) => {
      el.setPointerCapture(ev.pointerId);
      pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      start = { x: circle.x, y: circle.y, size: circle.size, px: ev.clientX, py: ev.clientY, spread: spread() };
      el.classList.add("dragging");
      ev.preventDefault();
    });
    el.addEventListener("pointermove", (ev) => {
      if (!pointers.has(ev.pointerId) || !start) return;
      pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      if (pointers.size >= 2 && start.spread > 0) {
        // A pinch resizes.
        circle.size = Math.max(50, Math.min(160, Math.round(start.size * spread() / start.spread / 5) * 5));
        $("size").value = circle.size;
      } else {
        circle.x = Math.round(start.x + (ev.clientX - start.px) / scale);
        circle.y = Math.round(start.y + (ev.clientY - start.py) / scale);
      }
      clamp();
      draw();
    });
    const end = (ev) => {
      if (!pointers.delete(ev.pointerId)) return;
      if (pointers.size === 0) {
        el.classList.remove("dragging");
        start = null;
        save();
      }
    };
    el.addEventListener("pointerup", end);
    el.addEventListener("pointercancel", end);
    function spread() {
      const p = [...pointers.values()];
      return p.length < 2 ? 0 : Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y);
    }
  }

  // --- the server's still and price ---------------------------------------------------------
  function edit() {
    return {
      x: circle.x, y: circle.y, size: circle.size,
      ring: $("ring").checked, ring_color: $("ringColor").value.toUpperCase(),
      captions: $("captions").checked, caption_style: d.caption_style,
      safe_zone: d.safe_zone, brand: d.brand === null ? true : $("brand").checked,
      start_ms: parseInt($("start").value || "0", 10),
    };
  }

  async function still(layout) {
    const r = await call("still", layout ? { layout } : {}, true);
    const blob = await r.blob();
    if (stillUrl) URL.revokeObjectURL(stillUrl);
    stillUrl = URL.createObjectURL(blob);
    $("still").src = stillUrl;
    const p = parseInt(r.headers.get("X-Price") || "0", 10);
    if (p > 0) setPrice(p);
    document.body.dataset.saved = String(Date.now());
  }

  // The server re-draws on release: one request at a time, the latest layout last.
  function save() {
    if (ordering) return;
    if (saving) { pending = true; return; }
    $("status").textContent = t.saving || "";
    saving = still(edit())
      .then(() => { $("status").textContent = ""; })
      .catch(fail)
      .finally(() => {
        saving = null;
        if (pending) { pending = false; save(); }
      });
  }

  function setPrice(p) {
    price = p;
    const text = (t.order || "{price}").replace("{price}", String(p));
    if (tg && tg.MainButton) {
      tg.MainButton.setText(text);
      tg.MainButton.show();
      tg.MainButton.enable();
    }
  }

  // --- controls -----------------------------------------------------------------------------
  function chips(id, items, current, pick) {
    const box = $(id);
    box.textContent = "";
    for (const [value, label] of items) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.dataset.value = value;
      b.setAttribute("aria-pressed", String(value === current));
      b.addEventListener("click", () => {
        for (const other of box.children) other.setAttribute("aria-pressed", String(other === b));
        pick(value);
      });
      box.appendChild(b);
    }
  }

  function controls() {
    for (const el of document.querySelectorAll("[data-t]")) el.textContent = t[el.dataset.t] || "";
    $("hint").textContent = d.circle ? (t.drag_hint || "") : (t.no_circle || "");
    $("sizeRow").hidden = !d.circle;
    $("ringRow").hidden = !d.circle;
    $("size").value = circle.size;
    $("ring").checked = d.ring;
    $("ringColor").value = d.ring_color.toLowerCase();
    $("captions").checked = d.captions;
    if (d.start_max_ms > 0) {
      $("startRow").hidden = false;
      $("start").max = d.start_max_ms;
      $("start").value = d.start_ms;
      const shown = () => { $("startOut").textContent = (parseInt($("start").value, 10) / 1000).toFixed(1) + " s"; };
      shown();
      $("start").addEventListener("input", shown);
      $("start").addEventListener("change", save);
    }
    if (d.brand !== null) { $("brandRow").hidden = false; $("brand").checked = d.brand; }
    $("previewBtn").textContent = t.preview || "▶";
    chips("styles", d.styles, d.caption_style, (v) => { d.caption_style = v; save(); });
    chips("zones", d.zones.map((z) => [z.name, z.label]), d.safe_zone, (v) => { d.safe_zone = v; clamp(); draw(); save(); });
    $("size").addEventListener("input", () => { circle.size = parseInt($("size").value, 10); clamp(); draw(); });
    $("size").addEventListener("change", save);
    for (const id of ["ring", "captions", "brand"]) $(id).addEventListener("change", () => { draw(); save(); });
    $("ringColor").addEventListener("input", draw);
    $("ringColor").addEventListener("change", save);
    $("previewBtn").addEventListener("click", motion);
    window.addEventListener("resize", draw);
  }

  async function motion() {
    const btn = $("previewBtn");
    btn.disabled = true;
    $("status").textContent = t.preview_wait || "…";
    try {
      if (saving) await saving;
      const r = await call("preview", {}, true);
      const video = $("motion");
      video.src = URL.createObjectURL(await r.blob());
      video.hidden = false;
      await video.play().catch(() => {});
      $("status").textContent = "";
    } catch (e) {
      if (e.code === "preview-limit") $("status").textContent = (t.preview_limit || "").replace("{minutes}", e.message);
      else fail(e);
    } finally {
      btn.disabled = false;
    }
  }

  async function order() {
    if (!tg || !tg.MainButton) return;
    tg.MainButton.showProgress(false);
    tg.MainButton.disable();
    ordering = true;
    try {
      // The last change is saved first; none starts while the order is placed.
      while (saving) await saving;
      const r = await call("order", { price });
      if (r.ordered) {
        $("status").textContent = t.ordered || "";
        tg.close();
      }
    } catch (e) {
      if (e.code === "price") {
        setPrice(parseInt(e.message, 10));
        $("status").textContent = (t.price_changed || "").replace("{price}", e.message);
      } else if (e.code === "ordered" || e.code === "ordering") {
        $("status").textContent = t.ordered || "";
      } else fail(e);
      ordering = false;
    } finally {
      tg.MainButton.hideProgress();
      tg.MainButton.enable();
    }
  }

  async function start() {
    theme();
    if (tg) {
      tg.ready();
      tg.expand();
      if (tg.onEvent) tg.onEvent("themeChanged", theme);
    }
    if (!initData) return problem(early.unauthorized);
    try {
      d = await call("draft");
      key = d.key;
      t = d.texts || {};
      document.title = t.title || document.title;
      circle.x = d.x; circle.y = d.y; circle.size = d.size;
      $("app").hidden = false;
      controls();
      draw();
      dragging();
      const portrait = await call("portrait", {}, true);
      $("circle").style.backgroundImage = "url(" + URL.createObjectURL(await portrait.blob()) + ")";
      await still(null);
      setPrice(d.price);
      if (tg && tg.MainButton) tg.MainButton.onClick(order);
    } catch (e) {
      fail(e);
    }
  }

  start();
})();
