// tensorbench editing canvas: an SVG drawing of a tensor network that the user edits with the
// mouse and keyboard. Python owns the network (every edit is validated there and undoable);
// this file only draws `model.graph` and reports gestures with `model.send_msg`. While a
// tensor is dragged its bonds, ports and hyperedge hubs follow locally, frame by frame; the
// new positions go to Python on release. No imports, no network access: it ships as is.

const NS = "http://www.w3.org/2000/svg";
const LEG = 28; // length of an open leg, in canvas units
const HIT = 9; // pick radius for leg tips and bonds, in screen pixels

function el(tag, attrs, parent) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, str, cls) {
  const t = el("text", { x, y, class: cls }, parent);
  t.textContent = str; // names are always text, never HTML
  return t;
}

function distToSegment(p, a, b) {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  let t = len2 ? ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2 : 0;
  t = Math.max(0, Math.min(1, t));
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

export function render({ model, el: root }) {
  const svg = el("svg", { class: "tb-canvas", tabindex: "0", "data-testid": "canvas" });
  root.appendChild(svg);
  const view = el("g", { class: "tb-view" }, svg);
  const bondLayer = el("g", {}, view);
  const tensorLayer = el("g", {}, view);
  const overlay = el("g", {}, view);
  const hint = el("text", { class: "tb-hint", x: 16, y: 28 }, svg);

  let graph = model.graph || { tensors: [], bonds: [] };
  let pos = {}; // tensor id -> [x, y], the live positions (moved locally while dragging)
  let byId = {};
  let cam = { x: 0, y: 0, k: 1 };
  let refs = { tensors: {}, bonds: {} };
  let gesture = null;
  let lastPointer = null;
  let needFit = true; // fit once the element has a size, then whenever Python asks

  const selection = () => graph.selection || { tensors: [], indices: [] };

  function applyCamera() {
    view.setAttribute("transform", `translate(${cam.x},${cam.y}) scale(${cam.k})`);
  }

  function toWorld(evt) {
    const r = svg.getBoundingClientRect();
    return [(evt.clientX - r.left - cam.x) / cam.k, (evt.clientY - r.top - cam.y) / cam.k];
  }

  function fit() {
    const r = svg.getBoundingClientRect();
    const ts = graph.tensors;
    if (!ts.length || r.width < 10 || r.height < 10) {
      cam = { x: r.width / 2, y: r.height / 2, k: 1 };
      applyCamera();
      return;
    }
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const t of ts) {
      const [x, y] = pos[t.id];
      // room for the leg labels ("p15 (2)") beyond the tips: 40 units clipped them
      x0 = Math.min(x0, x - t.r - LEG - 70); x1 = Math.max(x1, x + t.r + LEG + 70);
      y0 = Math.min(y0, y - t.r - LEG - 36); y1 = Math.max(y1, y + t.r + LEG + 36);
    }
    const k = Math.min(1.6, Math.max(0.05, Math.min(r.width / (x1 - x0), r.height / (y1 - y0))));
    cam = { k, x: r.width / 2 - k * (x0 + x1) / 2, y: r.height / 2 - k * (y0 + y1) / 2 };
    applyCamera();
  }

  // ------------------------------------------------------------------ geometry

  function hubOf(b) {
    // Hyperedge hub: centre of its tensors, nudged off any tensor it would sit on.
    let x = 0, y = 0;
    for (const id of b.tensors) { x += pos[id][0]; y += pos[id][1]; }
    x /= b.tensors.length; y /= b.tensors.length;
    for (const id of b.tensors) {
      if (Math.hypot(pos[id][0] - x, pos[id][1] - y) < byId[id].r + 6) { x += 30; y -= 30; break; }
    }
    // nor on a bond's line (four tensors, three in a triangle: the middle fell on one
    // side of it): stepped off it, to the side farther from the tensors
    for (const o of graph.bonds) {
      if (o.kind === "hyper") continue;
      const pa = pos[o.tensors[0]], pc = pos[o.tensors[1]];
      if (distToSegment([x, y], pa, pc) >= 12) continue;
      const d = Math.hypot(pc[0] - pa[0], pc[1] - pa[1]) || 1;
      const nx = -(pc[1] - pa[1]) / d * 26, ny = (pc[0] - pa[0]) / d * 26;
      const room = (p) => Math.min(...graph.tensors.map((t) => Math.hypot(pos[t.id][0] - p[0], pos[t.id][1] - p[1])));
      const [u, v] = [[x + nx, y + ny], [x - nx, y - ny]];
      [x, y] = room(u) >= room(v) ? u : v;
      break;
    }
    return [x, y];
  }

  function placeHubLabel(label, hub, ends, clear) {
    // The size goes where the hub's spokes are not: of eight directions, the one farthest
    // (in angle) from every spoke. Fixed up and to the right, it lay on a spoke going
    // that way ("r=6" on the CP template's hub). With ``clear`` (a test of the label's
    // middle, at its baseline as bond sizes' spots are), the first direction in that
    // order whose spot passes it, when one does.
    const spokes = ends.map((p) => Math.atan2(p[1] - hub[1], p[0] - hub[0]));
    const dirs = [];
    for (let i = 0; i < 8; i++) {
      const a = -Math.PI / 4 + i * Math.PI / 4;  // up-right first: the old spot, when free
      let near = Math.PI;
      for (const s of spokes) {
        const d = Math.abs(((a - s) % (2 * Math.PI) + 3 * Math.PI) % (2 * Math.PI) - Math.PI);
        near = Math.min(near, d);
      }
      dirs.push({ a, near, i });
    }
    dirs.sort((u, v) => v.near - u.near + 1e-9 * (u.i - v.i));
    const spot = (a) => {
      const dx = Math.cos(a), dy = Math.sin(a);
      const x = hub[0] + dx * 14, y = hub[1] + dy * 14 + (dy > 0.3 ? 10 : dy < -0.3 ? 0 : 4);
      const anchor = dx > 0.3 ? "start" : dx < -0.3 ? "end" : "middle";
      const w = 7 * label.textContent.length;
      const mid = [anchor === "start" ? x + w / 2 : anchor === "end" ? x - w / 2 : x, y];
      return { x, y, anchor, mid };
    };
    let best = spot(dirs[0].a);
    if (clear) {
      const ok = dirs.filter((d) => d.near > Math.PI / 8).map((d) => spot(d.a)).find((s) => clear(s.mid));
      if (ok) best = ok;
    }
    label.setAttribute("x", best.x);
    // baseline below the hub's lower tip when under it; text grows upward from it
    label.setAttribute("y", best.y);
    label.style.textAnchor = best.anchor;
    return best.mid;
  }

  function rim(id, towards) {
    const [x, y] = pos[id];
    const d = Math.hypot(towards[0] - x, towards[1] - y) || 1;
    const r = byId[id].r;
    return [x + (towards[0] - x) / d * r, y + (towards[1] - y) / d * r];
  }

  function otherEnd(b, id) {
    if (b.kind === "hyper") return hubOf(b);
    const other = b.tensors[0] === id ? b.tensors[1] : b.tensors[0];
    return pos[other];
  }

  // ------------------------------------------------------------------ drawing

  function draw() {
    bondLayer.replaceChildren();
    tensorLayer.replaceChildren();
    refs = { tensors: {}, bonds: {} };
    const sel = selection();
    const hot = new Set(graph.hot || []);
    const showLabels = graph.labels !== false;
    hint.textContent = graph.tensors.length ? "" :
      "Empty canvas: double-click (or press N) to add a tensor";

    for (const b of graph.bonds) {
      const g = el("g", { class: `tb-bond tb-${b.kind}` + (sel.indices.includes(b.index) ? " tb-selected" : "") }, bondLayer);
      const ref = { g, lines: [], hub: null, label: null, b };
      const n = b.kind === "hyper" ? b.tensors.length : 1;
      for (let i = 0; i < n; i++) {
        const line = el("line", { class: "tb-bond-line", "stroke-width": b.width, "data-role": "bond", "data-index": b.index }, g);
        el("title", {}, line).textContent = `${b.index} (size ${b.size})`;
        ref.lines.push(line);
      }
      if (b.kind === "hyper") {
        ref.hub = el("path", { class: "tb-hub", d: "M0,-9 L9,0 L0,9 L-9,0 Z", "data-role": "hub", "data-index": b.index }, g);
        el("title", {}, ref.hub).textContent = `${b.index} (size ${b.size}, ${b.tensors.length} tensors)`;
      }
      if (showLabels) ref.label = text(g, 0, 0, b.label, "tb-bond-label");
      refs.bonds[b.index] = ref;
    }

    for (const t of graph.tensors) {
      const selected = sel.tensors.includes(t.id);
      const g = el("g", { class: "tb-tensor" + (selected ? " tb-selected" : ""), "data-tensor": t.id, "data-hot": hot.has(t.id) ? "1" : "0" }, tensorLayer);
      const ref = { g, legs: [], ports: [] };
      for (const leg of t.legs) {
        if (leg.kind === "open" || leg.kind === "summed") {
          const [dx, dy] = leg.dir;
          const lg = el("g", { class: `tb-leg tb-${leg.kind}` + (sel.indices.includes(leg.index) ? " tb-selected" : "") }, g);
          el("line", { x1: dx * t.r, y1: dy * t.r, x2: dx * (t.r + LEG), y2: dy * (t.r + LEG), "stroke-width": leg.width, "data-role": "leg", "data-index": leg.index, "data-tensor": t.id }, lg);
          const tip = el("rect", { x: dx * (t.r + LEG) - 5, y: dy * (t.r + LEG) - 5, width: 10, height: 10, class: "tb-leg-tip", "data-role": "leg-tip", "data-index": leg.index, "data-tensor": t.id }, lg);
          el("title", {}, tip).textContent = `${leg.index} (size ${leg.size}): drag to connect`;
          if (showLabels) {
            // Beside the tip, running away from it: centred 16 px out, a sideways leg's
            // label ("p1_0 (2)", ~40 px wide) covered its own tip.
            const side = Math.abs(dx) > 0.35;
            const out = t.r + LEG + (side ? 9 : 16);
            const lab = text(lg, dx * out, dy * out + 4, leg.label, "tb-leg-label");
            if (side) lab.style.textAnchor = dx > 0 ? "start" : "end";
          }
          const order = text(g, dx * (t.r + 8), dy * (t.r + 8) + 3, String(leg.order), "tb-order");
          ref.legs.push(order);
        } else {
          const port = el("circle", { r: 3.5, class: "tb-port" }, g);
          const order = text(g, 0, 0, String(leg.order), "tb-order");
          ref.ports.push({ leg, port, order });
        }
      }
      if (hot.has(t.id)) el("circle", { r: t.r + 5, class: "tb-halo" }, g);
      const body = el("circle", { r: t.r, class: "tb-body", fill: t.color, "data-role": "tensor", "data-tensor": t.id }, g);
      el("title", {}, body).textContent = `${t.name} ${t.shape}`;
      text(g, 0, 4, t.name, "tb-name");
      el("circle", { cx: t.r * 0.78, cy: -t.r * 0.78, r: 6, class: "tb-connector", "data-role": "connector", "data-tensor": t.id }, g)
        .appendChild(document.createElementNS(NS, "title")).textContent = "drag to another tensor or leg to connect";
      refs.tensors[t.id] = ref;
    }
    layout(null);
  }

  // Update positions of everything that depends on tensor positions (only `ids` if given).
  function layout(ids) {
    for (const t of graph.tensors) {
      if (ids && !ids.has(t.id)) continue;
      const [x, y] = pos[t.id];
      refs.tensors[t.id].g.setAttribute("transform", `translate(${x},${y})`);
    }
    for (const b of graph.bonds) {
      if (ids && !b.tensors.some((id) => ids.has(id))) continue;
      const ref = refs.bonds[b.index];
      if (b.kind === "hyper") {
        const hub = hubOf(b);
        b.tensors.forEach((id, i) => {
          const p = rim(id, hub);
          ref.lines[i].setAttribute("x1", p[0]); ref.lines[i].setAttribute("y1", p[1]);
          ref.lines[i].setAttribute("x2", hub[0]); ref.lines[i].setAttribute("y2", hub[1]);
        });
        ref.hub.setAttribute("transform", `translate(${hub[0]},${hub[1]})`);
        ref.hubAt = hub;  // its size is placed by spreadBondLabels, beside this drawn hub
      } else {
        const [a, c] = b.tensors;
        const pa = rim(a, pos[c]), pc = rim(c, pos[a]);
        // parallel bonds between the same two tensors are drawn side by side
        const dx = pc[0] - pa[0], dy = pc[1] - pa[1], d = Math.hypot(dx, dy) || 1;
        const off = (b.offset || 0) * 10;
        const ox = -dy / d * off, oy = dx / d * off;
        const line = ref.lines[0];
        line.setAttribute("x1", pa[0] + ox); line.setAttribute("y1", pa[1] + oy);
        line.setAttribute("x2", pc[0] + ox); line.setAttribute("y2", pc[1] + oy);
        if (ref.label) {
          // Parallel bonds' sizes sit past the outermost line, stepped along the bond:
          // beside their own lines, 10 px apart, they were drawn on top of one another
          // ("2 2 2") and under the neighbouring lines.
          const along = (b.offset || 0) * 24;
          const across = b.bundle ? b.bundle * 10 + 14 : 10;
          // kept: spreadBondLabels slides from here, not from where it slid it last time
          ref.base = [
            (pa[0] + pc[0]) / 2 - dy / d * across + dx / d * along,
            (pa[1] + pc[1]) / 2 + dx / d * across + 4 + dy / d * along,
          ];
          ref.label.setAttribute("x", ref.base[0]);
          ref.label.setAttribute("y", ref.base[1]);
        }
      }
    }
    // ports (bond ends on the rim) and their axis numbers follow the other end
    for (const t of graph.tensors) {
      const ref = refs.tensors[t.id];
      for (const { leg, port, order } of ref.ports) {
        const b = graph.bonds.find((bb) => bb.index === leg.index);
        if (!b) continue;
        if (ids && !b.tensors.some((id) => ids.has(id))) continue;
        const [x, y] = pos[t.id];
        const [ox, oy] = otherEnd(b, t.id);
        const d = Math.hypot(ox - x, oy - y) || 1;
        const ux = (ox - x) / d, uy = (oy - y) / d;
        port.setAttribute("cx", ux * t.r); port.setAttribute("cy", uy * t.r);
        order.setAttribute("x", ux * (t.r + 9) - uy * 7); order.setAttribute("y", uy * (t.r + 9) + ux * 7 + 3);
      }
    }
    spreadBondLabels();
  }

  function sameEnds(b1, b2) {
    const [a, c] = b1.tensors, [x, y] = b2.tensors;
    return (a === x && c === y) || (a === y && c === x);
  }

  function spreadBondLabels() {
    // Bonds crossing at their middles (an FCTN square's diagonals) put each one's size on
    // the other's line, side by side. A size that lands on another bond's line, or by a
    // size placed before it, slides along its own bond (a fifth, then a third, either
    // way) to the first clear spot, else to the clearest.
    const placed = [];
    const segs = [];
    const hubs = new Map();
    for (const b of graph.bonds) {
      if (b.kind === "hyper") {
        // the hub as drawn (a drag redraws only the bonds it moves)
        const ref = refs.bonds[b.index];
        hubs.set(b, (ref && ref.hubAt) || hubOf(b));
        for (const id of b.tensors) segs.push({ b, a: pos[id], c: hubs.get(b) });
      } else segs.push({ b, a: pos[b.tensors[0]], c: pos[b.tensors[1]] });
    }
    const clearance = (b, p) => {
      let m = Infinity;
      for (const q of placed) m = Math.min(m, Math.hypot(q[0] - p[0], q[1] - p[1]) / 18);
      for (const s of segs) {
        if (s.b === b || (b.kind !== "hyper" && s.b.kind !== "hyper" && sameEnds(s.b, b))) continue;  // own bundle
        m = Math.min(m, distToSegment([p[0], p[1] - 4], s.a, s.c) / 8);
      }
      return m;  // >= 1: clear (18 px from other sizes, 8 px from other lines)
    };
    for (const b of graph.bonds) {
      const ref = refs.bonds[b.index];
      if (!ref || !ref.label) continue;
      if (b.kind === "hyper") {
        // its size, beside the hub away from the spokes, also clear of other bonds' lines
        // and sizes where a direction allows ("h0=2" sat on a bond the hub lay on)
        const w = 7 * ref.label.textContent.length;
        const mid = placeHubLabel(ref.label, hubs.get(b), b.tensors.map((id) => pos[id]),
          (p) => [-0.4, 0, 0.4].every((f) => clearance(b, [p[0] + f * w, p[1]]) >= 1));
        placed.push(mid);
        continue;
      }
      const here = ref.base || [+ref.label.getAttribute("x"), +ref.label.getAttribute("y")];
      let best = here;
      if (clearance(b, here) < 1) {
        const [a, c] = b.tensors;
        const dx = pos[c][0] - pos[a][0], dy = pos[c][1] - pos[a][1];
        const tries = [0.2, -0.2, 0.33, -0.33].map((f) => [here[0] + f * dx, here[1] + f * dy]);
        best = tries.find((p) => clearance(b, p) >= 1)
          || [here, ...tries].reduce((u, v) => (clearance(b, v) > clearance(b, u) ? v : u));
      }
      ref.label.setAttribute("x", best[0]); ref.label.setAttribute("y", best[1]);
      placed.push(best);
    }
  }

  // ------------------------------------------------------------------ picking

  function pick(p) {
    const tol = HIT / cam.k;
    // leg tips first: they sit on top of everything else
    for (const t of graph.tensors) {
      for (const leg of t.legs) {
        if (leg.kind !== "open" && leg.kind !== "summed") continue;
        const [x, y] = pos[t.id];
        const tx = x + leg.dir[0] * (t.r + LEG), ty = y + leg.dir[1] * (t.r + LEG);
        if (Math.hypot(p[0] - tx, p[1] - ty) < tol) return { kind: "leg", tensor: t.id, index: leg.index };
      }
    }
    for (let i = graph.tensors.length - 1; i >= 0; i--) {
      const t = graph.tensors[i];
      const [x, y] = pos[t.id];
      if (Math.hypot(p[0] - (x + t.r * 0.78), p[1] - (y - t.r * 0.78)) < 6 + tol / 2) return { kind: "connector", tensor: t.id };
      if (Math.hypot(p[0] - x, p[1] - y) < t.r) return { kind: "tensor", tensor: t.id };
    }
    for (const b of graph.bonds) {
      if (b.kind === "hyper") {
        const hub = hubOf(b);
        if (Math.hypot(p[0] - hub[0], p[1] - hub[1]) < 10 + tol) return { kind: "bond", index: b.index, tensor: b.tensors[0] };
        for (const id of b.tensors) if (distToSegment(p, pos[id], hub) < tol) return { kind: "bond", index: b.index, tensor: b.tensors[0] };
      } else if (distToSegment(p, pos[b.tensors[0]], pos[b.tensors[1]]) < tol + b.width / 2) {
        return { kind: "bond", index: b.index, tensor: b.tensors[0] };
      }
    }
    for (const t of graph.tensors) {
      for (const leg of t.legs) {
        if (leg.kind !== "open" && leg.kind !== "summed") continue;
        const [x, y] = pos[t.id];
        const a = [x + leg.dir[0] * t.r, y + leg.dir[1] * t.r];
        const b = [x + leg.dir[0] * (t.r + LEG), y + leg.dir[1] * (t.r + LEG)];
        if (distToSegment(p, a, b) < tol) return { kind: "leg", tensor: t.id, index: leg.index };
      }
    }
    return null;
  }

  // ------------------------------------------------------------------ gestures

  function send(msg) { model.send_msg(msg); }

  svg.addEventListener("pointerdown", (evt) => {
    svg.focus();
    const p = toWorld(evt);
    lastPointer = p;
    const hit = pick(p);
    svg.setPointerCapture(evt.pointerId);
    if (evt.button === 1 || (evt.button === 0 && !hit && !evt.shiftKey)) {
      gesture = { kind: "pan", start: [evt.clientX, evt.clientY], cam: { ...cam }, moved: false };
    } else if (hit && (hit.kind === "connector" || (hit.kind === "leg" && evt.button === 0))) {
      const from = hit.kind === "leg" ? { tensor: hit.tensor, index: hit.index } : { tensor: hit.tensor, index: null };
      const start = [...pos[hit.tensor]];
      gesture = { kind: "connect", from, hit, line: el("line", { class: "tb-temp", x1: start[0], y1: start[1], x2: p[0], y2: p[1] }, overlay), moved: false };
    } else if (hit && hit.kind === "tensor") {
      const sel = selection().tensors;
      const group = sel.includes(hit.tensor) ? sel : [hit.tensor];
      gesture = { kind: "drag", hit, ids: new Set(group), start: p, orig: Object.fromEntries(group.map((id) => [id, [...pos[id]]])), moved: false, shift: evt.shiftKey };
    } else if (hit) {
      gesture = { kind: "click", hit, shift: evt.shiftKey, moved: false };
    } else {
      gesture = { kind: "box", start: p, rect: el("rect", { class: "tb-box", x: p[0], y: p[1], width: 0, height: 0 }, overlay), moved: false };
    }
  });

  svg.addEventListener("pointermove", (evt) => {
    const p = toWorld(evt);
    lastPointer = p;
    if (!gesture) return;
    if (gesture.kind === "pan") {
      const dx = evt.clientX - gesture.start[0], dy = evt.clientY - gesture.start[1];
      if (Math.abs(dx) + Math.abs(dy) > 2) gesture.moved = true;
      cam = { ...gesture.cam, x: gesture.cam.x + dx, y: gesture.cam.y + dy };
      applyCamera();
    } else if (gesture.kind === "drag") {
      const dx = p[0] - gesture.start[0], dy = p[1] - gesture.start[1];
      if (Math.abs(dx) + Math.abs(dy) > 2 / cam.k) gesture.moved = true;
      for (const id of gesture.ids) pos[id] = [gesture.orig[id][0] + dx, gesture.orig[id][1] + dy];
      layout(gesture.ids);
    } else if (gesture.kind === "connect") {
      gesture.moved = true;
      gesture.line.setAttribute("x2", p[0]); gesture.line.setAttribute("y2", p[1]);
    } else if (gesture.kind === "box") {
      gesture.moved = true;
      const [x0, y0] = gesture.start;
      gesture.rect.setAttribute("x", Math.min(x0, p[0])); gesture.rect.setAttribute("y", Math.min(y0, p[1]));
      gesture.rect.setAttribute("width", Math.abs(p[0] - x0)); gesture.rect.setAttribute("height", Math.abs(p[1] - y0));
    }
  });

  svg.addEventListener("pointerup", (evt) => {
    const g = gesture;
    gesture = null;
    if (!g) return;
    const p = toWorld(evt);
    if (g.kind === "pan") {
      if (!g.moved) send({ type: "select", tensors: [], indices: [] });
    } else if (g.kind === "drag") {
      if (g.moved) {
        send({ type: "move", positions: Object.fromEntries([...g.ids].map((id) => [id, pos[id]])) });
      } else if (g.shift) {
        const sel = selection();
        const has = sel.tensors.includes(g.hit.tensor);
        send({ type: "select", tensors: has ? sel.tensors.filter((id) => id !== g.hit.tensor) : [...sel.tensors, g.hit.tensor], indices: sel.indices });
      } else {
        send({ type: "select", tensors: [g.hit.tensor], indices: [] });
      }
    } else if (g.kind === "connect") {
      g.line.remove();
      const target = pick(p);
      if (!g.moved || !target) {
        if (g.hit.kind === "leg") send({ type: "select", tensors: [], indices: [g.hit.index] });
        else if (g.hit.kind === "connector") send({ type: "select", tensors: [g.hit.tensor], indices: [] });
        return;
      }
      const to = target.kind === "leg" || target.kind === "bond" ? { tensor: target.tensor, index: target.index } : { tensor: target.tensor, index: null };
      if (target.kind === "bond" && g.from.index === null) {
        // a tensor dropped on a bond joins that index (a hyperedge)
        send({ type: "connect", a: to, b: g.from });
      } else {
        send({ type: "connect", a: g.from, b: to });
      }
    } else if (g.kind === "click") {
      const sel = selection();
      if (g.hit.kind === "bond" || g.hit.kind === "leg") {
        const idx = g.hit.index;
        const indices = g.shift ? (sel.indices.includes(idx) ? sel.indices.filter((i) => i !== idx) : [...sel.indices, idx]) : [idx];
        send({ type: "select", tensors: g.shift ? sel.tensors : [], indices });
      }
    } else if (g.kind === "box") {
      g.rect.remove();
      const [x0, y0] = g.start;
      const xa = Math.min(x0, p[0]), xb = Math.max(x0, p[0]), ya = Math.min(y0, p[1]), yb = Math.max(y0, p[1]);
      const inside = graph.tensors.filter((t) => pos[t.id][0] >= xa && pos[t.id][0] <= xb && pos[t.id][1] >= ya && pos[t.id][1] <= yb).map((t) => t.id);
      const sel = selection();
      send({ type: "select", tensors: evt.shiftKey ? [...new Set([...sel.tensors, ...inside])] : inside, indices: [] });
    }
  });

  svg.addEventListener("dblclick", (evt) => {
    const p = toWorld(evt);
    const hit = pick(p);
    if (!hit) send({ type: "add_tensor", x: p[0], y: p[1] });
    else if (hit.kind === "tensor") send({ type: "add_leg", tensor: hit.tensor });
  });

  svg.addEventListener("wheel", (evt) => {
    evt.preventDefault();
    const r = svg.getBoundingClientRect();
    const sx = evt.clientX - r.left, sy = evt.clientY - r.top;
    const k = Math.min(4, Math.max(0.05, cam.k * Math.exp(-evt.deltaY * 0.0015)));
    cam = { k, x: sx - (sx - cam.x) * (k / cam.k), y: sy - (sy - cam.y) * (k / cam.k) };
    applyCamera();
  }, { passive: false });

  svg.addEventListener("keydown", (evt) => {
    const key = evt.key.toLowerCase();
    const mod = evt.ctrlKey || evt.metaKey;
    let msg = null;
    if (mod && key === "z") msg = { type: evt.shiftKey ? "redo" : "undo" };
    else if (mod && key === "y") msg = { type: "redo" };
    else if (mod && key === "a") msg = { type: "select", tensors: graph.tensors.map((t) => t.id), indices: [] };
    else if (mod) return;
    else if (key === "delete" || key === "backspace") msg = { type: "delete" };
    else if (key === "escape") msg = { type: "select", tensors: [], indices: [] };
    else if (key === "n") msg = { type: "add_tensor", x: (lastPointer || [0, 0])[0], y: (lastPointer || [0, 0])[1] };
    else if (key === "f") { fit(); evt.preventDefault(); return; }
    else if ("lchr".includes(key) && key.length === 1) msg = { type: "shortcut", key };
    if (msg) { evt.preventDefault(); send(msg); }
  });

  // ------------------------------------------------------------------ sync with Python

  function load() {
    graph = model.graph || { tensors: [], bonds: [] };
    pos = {};
    byId = {};
    for (const t of graph.tensors) { pos[t.id] = [t.x, t.y]; byId[t.id] = t; }
    draw();
    if (graph.fit) needFit = true;
    fitIfNeeded();
  }

  function fitIfNeeded() {
    const r = svg.getBoundingClientRect();
    if (!needFit || r.width < 10 || r.height < 10) return;
    needFit = false;
    fit();
  }

  model.on("graph", load);
  // the first fit waits until the element is laid out and has a size
  new ResizeObserver(fitIfNeeded).observe(svg);
  applyCamera();
  load();
}
