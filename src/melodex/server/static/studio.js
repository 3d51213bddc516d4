// Melodex Studio page: builds requests for the studio API, follows jobs over Server-Sent Events, and draws
// the section timeline, piano roll and spectrogram of the version being played. No libraries, no network
// beyond this server.
"use strict";

const TRACK_COLOURS = ["#7cc4ff", "#ffb86b", "#9be28f", "#f48fb1", "#c3a6ff", "#ffe082", "#80deea", "#bcaaa4"];
const SECTION_COLOURS = ["#2f4a66", "#4a3a66", "#2f5e4e", "#66452f", "#5e2f4a", "#4e5e2f", "#2f5a66", "#5a5a5a"];

const $ = (id) => document.getElementById(id);
const state = {
  options: null,        // GET /api/options
  pid: null,            // open project
  summary: null,        // GET /api/projects/{pid}
  view: null,           // score.json of the version being played
  viewVersion: null,    // the version being played (may differ from current)
  selectedSection: null,
  streams: new Map(),   // job id -> EventSource
};

// -- talking to the server -------------------------------------------------------------------------------

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (_) { /* a file or an empty body */ }
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : `${response.status} ${response.statusText}`;
    throw new Error(detail);
  }
  return data;
}

function showError(element, error) {
  element.textContent = error ? String(error.message || error) : "";
  element.hidden = !error;
}

// -- the controls ----------------------------------------------------------------------------------------

function fillSelect(select, values, labels) {
  for (const [i, value] of values.entries()) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = labels ? labels[i] : value;
    select.append(option);
  }
}

function addSectionRow(name, bars) {
  const row = document.createElement("div");
  row.className = "section-row";
  const select = document.createElement("select");
  select.className = "section-name";
  fillSelect(select, state.options.sections);
  select.value = name;
  const count = document.createElement("input");
  count.type = "number"; count.min = 1; count.max = state.options.max_bars; count.value = bars;
  count.className = "section-bars"; count.title = "bars";
  const remove = document.createElement("button");
  remove.type = "button"; remove.className = "ghost small remove-section"; remove.textContent = "×";
  remove.title = "remove this section";
  remove.onclick = () => { row.remove(); updateFormTotal(); };
  count.oninput = updateFormTotal;
  row.append(select, count, remove);
  $("form-builder").append(row);
  updateFormTotal();
}

function formSections() {
  return [...document.querySelectorAll("#form-builder .section-row")].map((row) => ({
    name: row.querySelector(".section-name").value,
    bars: parseInt(row.querySelector(".section-bars").value, 10) || 0,
  }));
}

function updateFormTotal() {
  const form = formSections();
  const total = form.reduce((sum, s) => sum + s.bars, 0);
  $("form-total").textContent = form.length
    ? `${form.length} section${form.length > 1 ? "s" : ""}, ${total} bars.`
    : "No sections: the prompt decides the form.";
}

function nextSectionName() {
  const order = ["intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro"];
  return order[Math.min(formSections().length, order.length - 1)];
}

function readControls() {
  const number = (id) => ($(id).value === "" ? null : Number($(id).value));
  const instruments = $("instruments").value.split(",").map((s) => s.trim()).filter(Boolean);
  return {
    prompt: $("prompt").value, bpm: number("bpm"), key: $("key").value || null, meter: $("meter").value || null,
    form: formSections(), instruments, preset: $("preset").value, cfg: number("cfg"),
    steps: number("steps") ?? 16, seed: number("seed") ?? 0, renderer: $("renderer").value,
    sample_rate: Number($("sample-rate").value),
  };
}

async function onGenerate(event) {
  event.preventDefault();
  showError($("form-error"), null);
  $("generate").disabled = true;
  try {
    const made = await api("/api/projects", readControls());
    await refreshProjectList();
    await openProject(made.project);
    follow(made.job);
  } catch (error) {
    showError($("form-error"), error);
  } finally {
    $("generate").disabled = false;
  }
}

// -- projects --------------------------------------------------------------------------------------------

async function refreshProjectList() {
  const projects = await api("/api/projects");
  const select = $("project-select");
  select.length = 1;
  for (const p of projects) {
    const option = document.createElement("option");
    option.value = p.id;
    const prompt = p.prompt.length > 60 ? p.prompt.slice(0, 57) + "…" : p.prompt;
    option.textContent = `${prompt || "(form only)"} · ${p.state}`;
    select.append(option);
  }
  select.value = state.pid || "";
  return projects;
}

async function openProject(pid) {
  state.pid = pid;
  $("project-select").value = pid || "";
  if (!pid) {
    $("project").hidden = true; $("empty").hidden = false; history.replaceState(null, "", "/");
    return;
  }
  history.replaceState(null, "", `#${pid}`);
  state.viewVersion = null;
  state.view = null;
  await refreshProject();
}

async function refreshProject(keepView) {
  if (!state.pid) return;
  const summary = await api(`/api/projects/${state.pid}`);
  state.summary = summary;
  $("empty").hidden = true;
  $("project").hidden = false;
  $("project-prompt").textContent = summary.request.prompt || summary.prompt;
  const brief = $("brief");
  brief.replaceChildren();
  for (const row of summary.brief || []) {
    if (["style", "mood", "energy", "texture"].includes(row.what) && row.value === "-") continue;
    const chip = document.createElement("span");
    chip.title = row.source ? `from the ${row.source}` : "";
    chip.dataset.what = row.what;
    const label = document.createElement("b");
    label.textContent = row.what;
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = row.value;
    chip.append(label, value);
    brief.append(chip);
  }
  showError($("project-error"), summary.state === "failed" ? `Generation failed: ${summary.error}` : null);
  for (const job of summary.jobs) {
    if ((job.status === "queued" || job.status === "running") && !state.streams.has(job.id)) follow(job);
  }
  showJob(summary.jobs.find((j) => j.status === "running") || summary.jobs.find((j) => j.status === "queued"));
  if (summary.state !== "ready") {
    $("audio").removeAttribute("src");
    return;
  }
  renderHistory();
  const wanted = keepView && state.viewVersion ? state.viewVersion : summary.current;
  if (wanted !== state.viewVersion || !state.view) await showVersion(wanted);
  else renderHistory();
}

// -- jobs ------------------------------------------------------------------------------------------------

const STAGES = {brief: "reading the prompt", compose: "composing", timbres: "making timbres",
  render: "playing and mixing", write: "writing files", edit: "editing", preview: "preparing the views"};

function showJob(job) {
  markBars(barsBeingRewritten(job), "rewriting", "being rewritten");
  const box = $("job");
  if (!job) { box.hidden = true; return; }
  box.hidden = false;
  const what = {generate: "Generating", regen: "Regenerating", retimbre: "New timbre", rerender: "Re-rendering",
    variation: "Variation", extend: "Extending", tempo: "New tempo", transpose: "Transposing"}[job.kind] || job.kind;
  const target = job.kind === "regen" ? ` ${job.params.section || "bars " + job.params.bars}` : "";
  $("job-label").textContent = what + target;
  if (job.status === "queued") {
    $("job-stage").textContent = `waiting in the queue (position ${job.queue_position})`;
    $("job-bar").style.width = "0";
  } else {
    // The pipeline's stages in the order they run; an edit skips the ones it does not need.
    const order = job.kind === "generate" ? ["brief", "compose", "timbres", "render", "write", "preview"]
      : ["compose", "timbres", "render", "write", "preview"];
    const index = Math.max(0, order.indexOf(job.stage));
    const done = (index + (job.fraction || 0)) / order.length;
    $("job-stage").textContent = STAGES[job.stage] || job.stage || "starting";
    $("job-bar").style.width = `${Math.round(done * 100)}%`;
  }
}

function follow(job) {
  if (state.streams.has(job.id)) return;
  const source = new EventSource(`/api/jobs/${job.id}/events`);
  state.streams.set(job.id, source);
  const update = (event) => {
    const current = JSON.parse(event.data);
    if (current.project === state.pid) showJob(current);
    return current;
  };
  source.addEventListener("progress", update);
  const finish = async (event) => {
    const finished = update(event);
    source.close();
    state.streams.delete(job.id);
    refreshQueueInfo();
    await refreshProjectList();
    if (finished.project !== state.pid) return;
    if (finished.status === "failed") showError($("project-error"), `${finished.kind} failed: ${finished.error}`);
    await refreshProject(false);
  };
  source.addEventListener("done", finish);
  source.addEventListener("failed", finish);
  source.onerror = () => {
    // the server went away or restarted: stop this stream and ask for the state once more
    source.close();
    state.streams.delete(job.id);
    setTimeout(() => refreshProject(true).catch(() => {}), 2000);
  };
  refreshQueueInfo();
}

async function refreshQueueInfo() {
  try {
    const health = await api("/api/health");
    $("queue-info").textContent = health.running ? `1 job running, ${health.queued} waiting`
      : (health.queued ? `${health.queued} waiting` : "idle");
  } catch (_) { $("queue-info").textContent = "server unreachable"; }
}

async function submitEdit(kind, body) {
  showError($("project-error"), null);
  try {
    const job = await api(`/api/projects/${state.pid}/${kind}`, body);
    showJob(job);
    follow(job);
  } catch (error) {
    showError($("project-error"), error);
  }
}

// -- a version: audio, timeline, piano roll, spectrogram -------------------------------------------------

function versionUrl(version, file) { return `/api/projects/${state.pid}/versions/${version}/${file}`; }

async function showVersion(version) {
  state.viewVersion = version;
  state.view = await api(versionUrl(version, "score.json"));
  const audio = $("audio");
  const wasPlaying = !audio.paused;
  const at = audio.currentTime || 0;
  audio.src = versionUrl(version, "mix.wav");
  audio.load();
  if (at) audio.addEventListener("loadedmetadata", () => { audio.currentTime = Math.min(at, audio.duration); },
    {once: true});
  if (wasPlaying) audio.play().catch(() => {});
  $("viewing-version").textContent = version;
  followChips(state.view);
  $("viewing-note").textContent = version === state.summary.current ? " (current)" : " (not current: use it to make it current)";
  $("spectrogram").src = versionUrl(version, "spectrogram.png");
  $("dl-wav").href = versionUrl(version, "mix.wav");
  $("dl-flac").href = versionUrl(version, "mix.flac");
  $("dl-mp3").href = versionUrl(version, "mix.mp3");
  $("dl-stems").href = versionUrl(version, "stems.zip");
  $("dl-midi").href = versionUrl(version, "song.mid");
  $("dl-project").href = `/api/projects/${state.pid}/project.zip`;
  renderTimeline();
  renderTracks();
  renderHistory();
  drawPianoRoll();
}

function renderTimeline() {
  const view = state.view;
  const timeline = $("timeline");
  timeline.replaceChildren();
  const sections = view.sections.length ? view.sections
    : [{name: "song", start_bar: 0, n_bars: view.n_bars, start: 0, end: view.duration}];
  const names = [...new Set(sections.map((s) => s.name.replace(/ \d+$/, "")))];
  const scope = $("track-scope");
  const chosen = scope.value;
  scope.length = 1;
  for (const section of sections) {
    const block = document.createElement("div");
    block.className = "section" + (state.selectedSection === section.name ? " selected" : "");
    block.dataset.section = section.name;
    // placed in seconds, on the same axis as the piano roll and spectrogram (the mix ends with a tail)
    block.style.left = `${(section.start / view.duration) * 100}%`;
    block.style.width = `${((section.end - section.start) / view.duration) * 100}%`;
    block.style.background = SECTION_COLOURS[names.indexOf(section.name.replace(/ \d+$/, "")) % SECTION_COLOURS.length];
    const name = document.createElement("div");
    name.className = "name"; name.textContent = section.name;
    const bars = document.createElement("div");
    bars.className = "bars";
    bars.textContent = `bars ${section.start_bar + 1}–${section.start_bar + section.n_bars}`;
    block.append(name, bars);
    if (view.sections.length) {
      const regen = document.createElement("button");
      regen.type = "button"; regen.className = "regen-section"; regen.dataset.section = section.name;
      regen.textContent = "↻"; regen.title = `regenerate the ${section.name} (all tracks)`;
      regen.onclick = (event) => { event.stopPropagation(); submitEdit("regen", {section: section.name}); };
      block.append(regen);
      fillSelect(scope, [section.name], [`the ${section.name}`]);
    }
    block.onclick = () => {
      state.selectedSection = section.name;
      $("audio").currentTime = section.start;
      for (const other of timeline.children) other.classList.toggle("selected", other === block);
      if (view.sections.length) scope.value = section.name;
    };
    timeline.append(block);
  }
  if ([...scope.options].some((o) => o.value === chosen)) scope.value = chosen;
  markBars(view.changed_bars || [], "changed", "changed by this version");
}

// Bars an edit rewrote: marked "changed" under the timeline after it, "rewriting" while its job runs.
function markBars(bars, kind, title) {
  const timeline = $("timeline");
  for (const old of timeline.querySelectorAll(`.bar-mark.${kind}`)) old.remove();
  const lines = state.view ? state.view.bar_lines : [];
  for (const bar of bars) {
    if (bar + 1 >= lines.length) continue;
    const mark = document.createElement("div");
    mark.className = `bar-mark ${kind}`;
    mark.dataset.bar = String(bar + 1);
    mark.title = `bar ${bar + 1}: ${title}`;
    mark.style.left = `${(lines[bar] / state.view.duration) * 100}%`;
    mark.style.width = `${((lines[bar + 1] - lines[bar]) / state.view.duration) * 100}%`;
    timeline.append(mark);
  }
}

function barsBeingRewritten(job) {
  const view = state.view;
  if (!view || !job || job.project !== state.pid || !["queued", "running"].includes(job.status)) return [];
  const range = (a, b) => Array.from({length: Math.max(0, b - a)}, (_, i) => a + i);
  if (job.kind === "regen" && job.params.section) {
    const section = view.sections.find((s) => s.name === job.params.section);
    return section ? range(section.start_bar, section.start_bar + section.n_bars) : [];
  }
  if (job.kind === "regen" && job.params.bars) {
    const [first, last] = String(job.params.bars).split(/[:-]/).map(Number);
    return range(first - 1, last || first);
  }
  if (["variation", "tempo", "transpose", "rerender", "retimbre"].includes(job.kind)) return range(0, view.n_bars);
  return [];
}

function trackColour(index) { return TRACK_COLOURS[index % TRACK_COLOURS.length]; }

function renderTracks() {
  const list = $("tracks");
  list.replaceChildren();
  const legend = $("legend");
  legend.replaceChildren();
  for (const track of state.view.tracks) {
    const item = document.createElement("li");
    item.dataset.track = track.index;
    const swatch = document.createElement("span");
    swatch.className = "swatch"; swatch.style.background = trackColour(track.index);
    const what = document.createElement("div");
    what.className = "what";
    const title = document.createElement("b");
    title.textContent = `${track.index}. ${track.instrument}`;
    const detail = document.createElement("div");
    detail.textContent = `${track.role} · ${track.notes.length} notes · ${track.renderer || "?"}: ${track.timbre}`;
    what.append(title, detail);
    const regen = document.createElement("button");
    regen.type = "button"; regen.className = "regen-track"; regen.textContent = "↻ notes";
    regen.title = "rewrite this track's notes (in the section chosen above, or the whole song)";
    regen.onclick = () => {
      const section = $("track-scope").value;
      const body = {tracks: [String(track.index)]};
      if (section) body.section = section; else body.bars = `1:${state.view.n_bars}`;
      submitEdit("regen", body);
    };
    const retimbre = document.createElement("div");
    retimbre.className = "retimbre";
    const words = document.createElement("input");
    words.placeholder = "new sound in words: brighter, warmer, distorted…";
    words.maxLength = 500;
    const apply = document.createElement("button");
    apply.type = "button"; apply.className = "retimbre-track"; apply.textContent = "New sound";
    apply.onclick = () => {
      if (!words.value.trim()) { words.focus(); return; }
      submitEdit("retimbre", {track: String(track.index), text: words.value.trim()});
    };
    words.onkeydown = (event) => { if (event.key === "Enter") { event.preventDefault(); apply.click(); } };
    retimbre.append(words, apply);
    item.append(swatch, what, regen, retimbre);
    list.append(item);
    const key = document.createElement("span");
    const dot = document.createElement("i");
    dot.style.background = trackColour(track.index);
    key.append(dot, track.instrument);
    legend.append(key);
  }
}

// The prompt's chips show what the version being played has, not what the first version had: a tempo or
// key edit, or an extension, changes them.
function followChips(view) {
  const now = {tempo: `${view.bpm} BPM`, key: view.key, meter: view.meter,
    length: `${view.n_bars} bars, ${view.duration.toFixed(1)} s`};
  for (const chip of document.querySelectorAll("#brief [data-what]")) {
    const value = now[chip.dataset.what];
    if (value !== undefined) chip.querySelector(".value").textContent = value;
  }
}

// History as a tree: each version under the one it was made from, newest branch first, so an edit made
// after an undo shows as a branch instead of hiding in a flat list.
function historyTree(history) {
  const children = new Map();
  for (const entry of history) {
    const key = entry.parent || "";
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(entry);
  }
  const ordered = [];
  const visit = (parent, depth) => {
    for (const entry of [...(children.get(parent) || [])].reverse()) {
      ordered.push({entry, depth});
      visit(entry.id, depth + 1);
    }
  };
  visit("", 0);
  return ordered;
}

function renderHistory() {
  const summary = state.summary;
  const list = $("history");
  list.replaceChildren();
  const busy = summary.jobs.some((j) => j.status === "queued" || j.status === "running");
  for (const {entry, depth} of historyTree(summary.history)) {
    const item = document.createElement("li");
    item.dataset.version = entry.id;
    item.style.paddingLeft = `${Math.min(depth, 8) * 12}px`;
    item.classList.toggle("current", entry.id === summary.current);
    item.classList.toggle("viewing", entry.id === state.viewVersion);
    const id = document.createElement("span");
    id.className = "vid"; id.textContent = entry.id;
    const edit = document.createElement("span");
    edit.className = "edit"; edit.textContent = entry.edit;
    edit.title = `${entry.edit}${entry.parent ? " (from " + entry.parent + ")" : ""}`;
    const listen = document.createElement("button");
    listen.type = "button"; listen.className = "ghost listen"; listen.textContent = "▶";
    listen.title = "listen to this version"; listen.disabled = entry.id === state.viewVersion;
    listen.onclick = () => showVersion(entry.id).then(() => $("audio").play().catch(() => {}));
    const use = document.createElement("button");
    use.type = "button"; use.className = "checkout"; use.textContent = "Use";
    use.title = "make this the current version (the next edit starts from it)";
    use.disabled = busy || entry.id === summary.current;
    use.onclick = () => checkout(entry.id);
    item.append(id, edit, listen, use);
    list.append(item);
  }
  const current = summary.history.find((h) => h.id === summary.current);
  $("undo").disabled = busy || !current || !current.parent;
}

async function checkout(version) {
  showError($("project-error"), null);
  try {
    await api(`/api/projects/${state.pid}/checkout`, {version});
    await refreshProject(false);
  } catch (error) { showError($("project-error"), error); }
}

async function undo() {
  showError($("project-error"), null);
  try {
    await api(`/api/projects/${state.pid}/undo`, {});
    await refreshProject(false);
  } catch (error) { showError($("project-error"), error); }
}

function drawPianoRoll() {
  const canvas = $("pianoroll");
  const view = state.view;
  if (!view) return;
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 800, height = canvas.clientHeight || 260;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const duration = Math.max(view.duration, 0.001);
  const x = (seconds) => (seconds / duration) * width;
  const pitched = view.tracks.filter((t) => !t.is_drum).flatMap((t) => t.notes.map((n) => n[2]));
  const hasDrums = view.tracks.some((t) => t.is_drum && t.notes.length);
  const drumLane = hasDrums ? 44 : 0;
  const low = pitched.length ? Math.min(...pitched) - 2 : 48, high = pitched.length ? Math.max(...pitched) + 2 : 72;
  const rowHeight = (height - drumLane - 4) / (high - low + 1);
  // octave shading (C rows) and bar lines
  g.fillStyle = "rgba(255,255,255,0.035)";
  for (let p = low; p <= high; p++) if (p % 12 === 0) g.fillRect(0, (high - p) * rowHeight, width, rowHeight);
  view.bar_lines.forEach((t, i) => {
    g.fillStyle = i % 4 === 0 ? "rgba(255,255,255,0.16)" : "rgba(255,255,255,0.07)";
    g.fillRect(Math.round(x(t)), 0, 1, height);
  });
  for (const section of view.sections.slice(1)) {
    g.fillStyle = "rgba(124,196,255,0.5)";
    g.fillRect(Math.round(x(section.start)), 0, 2, height);
  }
  if (hasDrums) {
    g.fillStyle = "rgba(255,255,255,0.05)";
    g.fillRect(0, height - drumLane, width, drumLane);
  }
  for (const track of view.tracks) {
    g.fillStyle = trackColour(track.index);
    for (const [start, length, pitch, velocity] of track.notes) {
      g.globalAlpha = 0.45 + 0.55 * (velocity / 127);
      if (track.is_drum) {
        const y = height - drumLane + 2 + ((pitch - 35) / 47) * (drumLane - 8);
        g.fillRect(x(start), Math.max(height - drumLane + 2, Math.min(height - 6, y)), 3, 4);
      } else {
        g.fillRect(x(start), (high - pitch) * rowHeight, Math.max(2, x(length) - 1), Math.max(2, rowHeight - 1));
      }
    }
  }
  g.globalAlpha = 1;
  g.fillStyle = "rgba(230,232,236,0.55)";
  g.font = "11px system-ui, sans-serif";
  for (let p = low; p <= high; p++) {
    const y = (high - p + 1) * rowHeight - 2;
    if (p % 12 === 0 && y > 11) g.fillText(`C${p / 12 - 1}`, 4, y);
  }
  if (hasDrums) g.fillText("drums", 4, height - drumLane + 12);
}

// With "Loop" ticked, playback repeats the section picked on the timeline (or the whole song).
function loopRegion() {
  if (!$("loop").checked || !state.view) return null;
  const section = state.view.sections.find((s) => s.name === state.selectedSection);
  return section ? {start: section.start, end: section.end} : {start: 0, end: state.view.duration};
}

function movePlayhead() {
  const audio = $("audio");
  const duration = (state.view && state.view.duration) || audio.duration || 0;
  const playhead = $("playhead");
  const loop = loopRegion();
  if (loop && !audio.paused && (audio.currentTime >= loop.end || audio.currentTime < loop.start - 0.05)) {
    audio.currentTime = loop.start;  // checked every frame: the loop closes within one frame of its end
  }
  playhead.style.left = duration ? `${Math.min(100, (audio.currentTime / duration) * 100)}%` : "0";
  requestAnimationFrame(movePlayhead);
}

function switchView(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === name);
  $("pianoroll").hidden = name !== "roll";
  $("spectrogram").hidden = name !== "spectrogram";
  $("legend").hidden = name !== "roll";
  if (name === "roll") drawPianoRoll();
}

// -- start -----------------------------------------------------------------------------------------------

async function start() {
  state.options = await api("/api/options");
  const o = state.options;
  fillSelect($("key"), o.keys);
  fillSelect($("meter"), o.meters);
  fillSelect($("preset"), Object.keys(o.presets), Object.entries(o.presets).map(([k, v]) => `${k} · ${v}`));
  $("preset").value = o.default_preset;
  fillSelect($("renderer"), o.renderers, o.renderers.map((r) => (r === "timbre" ? "model" : "GM font")));
  fillSelect($("sample-rate"), o.sample_rates, o.sample_rates.map((r) => `${r / 1000} kHz`));
  $("sample-rate").value = "44100";
  for (const name of o.instruments) {
    const option = document.createElement("option");
    option.value = name;
    $("instrument-names").append(option);
  }
  $("prompt").addEventListener("input", () => { $("prompt-count").textContent = $("prompt").value.length; });
  $("add-section").onclick = () => addSectionRow(nextSectionName(), 8);
  $("dice").onclick = () => { $("seed").value = Math.floor(Math.random() * 100000); };
  $("create-form").addEventListener("submit", onGenerate);
  $("project-select").onchange = () => openProject($("project-select").value || null);
  $("undo").onclick = undo;
  const number = (id) => Number($(id).value);
  $("do-extend").onclick = () => submitEdit("extend", {bars: number("extend-bars")});
  $("do-variation").onclick = () => submitEdit("variation", {strength: number("variation-strength")});
  $("do-rerender").onclick = () => submitEdit("rerender", $("rerender-cfg").value ? {cfg: number("rerender-cfg")} : {});
  $("do-tempo").onclick = () => submitEdit("tempo", {bpm: number("tempo-bpm")});
  $("do-transpose").onclick = () => submitEdit("transpose", {semitones: number("transpose-semitones")});
  for (const tab of document.querySelectorAll(".tab")) tab.onclick = () => switchView(tab.dataset.view);
  window.addEventListener("resize", drawPianoRoll);
  document.addEventListener("keydown", (event) => {  // space plays and pauses, except while typing
    if (event.code !== "Space" || event.target.closest("input, textarea, select, button")) return;
    event.preventDefault();
    const audio = $("audio");
    if (audio.paused) audio.play().catch(() => {}); else audio.pause();
  });
  requestAnimationFrame(movePlayhead);
  const projects = await refreshProjectList();
  const wanted = location.hash.slice(1);
  const first = projects.find((p) => p.id === wanted) || projects[0];
  if (first) await openProject(first.id);
  refreshQueueInfo();
  setInterval(refreshQueueInfo, 5000);
}

start().catch((error) => showError($("form-error"), error));
