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
  selection: null,      // {first, last}: the bars picked (0-based), looped and regenerated; null: the whole song
  shownJob: null,       // the queued or running job the bar shows (its Cancel button)
  cancelling: null,     // the id of a job asked to cancel
  streams: new Map(),   // job id -> EventSource
  jobs: new Map(),      // job id -> the last JobOut seen of each queued or running job
};

// -- talking to the server -------------------------------------------------------------------------------

async function api(path, body, method) {
  const init = body === undefined ? {method: method || "GET"} : {
    method: method || "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (_) { /* a file or an empty body */ }
  if (!response.ok) throw new Error(problem(response, data));
  return data;
}

// The API's Problem.detail (what is wrong and what to do), else the status line.
function problem(response, data) {
  return data && data.detail ? data.detail : `${response.status} ${response.statusText}`;
}

function showError(element, error) {
  element.textContent = error ? String(error.message || error) : "";
  element.hidden = !error;
}

// A file download that fails says why on the page: HEAD first (which also makes an export zip, kept for the GET),
// then the browser's own download. A failed HEAD has no body, so the GET is asked for the Problem's detail.
async function download(url, status) {
  status.textContent = "preparing…";
  try {
    const head = await fetch(url, {method: "HEAD"});
    if (!head.ok) {
      const again = await fetch(url);
      let data = null;
      try { data = await again.json(); } catch (_) { /* not JSON */ }
      throw new Error(problem(again, data));
    }
    const link = document.createElement("a");
    link.href = url;
    link.download = "";
    document.body.append(link);
    link.click();
    link.remove();
    status.textContent = "";
    showError($("project-error"), null);
  } catch (error) {
    status.textContent = "";
    showError($("project-error"), `Download failed: ${error.message || error}`);
  }
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
    sample_rate: Number($("sample-rate").value), ...outputFields("output"),
  };
}

async function onGenerate(event) {
  event.preventDefault();
  showError($("form-error"), null);
  if (!document.querySelector(".output-format:checked")) {
    $("output").open = true;
    showError($("form-error"), "Output: tick at least one format for the mix (WAV, FLAC or MP3)");
    return;
  }
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
  showError($("project-error"), null);  // another project's message is not this one's
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
    chip.dataset.brief = row.value;
    const label = document.createElement("b");
    label.textContent = row.what;
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = row.value;
    chip.append(label, value);
    brief.append(chip);
  }
  if (state.view && summary.state === "ready") followChips(state.view);
  // never cleared here: a failed or cancelled edit's message stays until the next request
  if (summary.state === "failed") showError($("project-error"), `Generation failed: ${summary.error}`);
  for (const [id, job] of state.jobs) if (job.project === state.pid) state.jobs.delete(id);
  for (const job of summary.jobs) {
    if (job.status !== "queued" && job.status !== "running") continue;
    state.jobs.set(job.id, job);
    if (!state.streams.has(job.id)) follow(job);
  }
  showJobs();
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

const JOB_NAMES = {generate: "Generating", regen: "Regenerating", rechord: "New chords", retimbre: "New timbre",
  rerender: "Re-rendering", variation: "Variation", extend: "Extending", tempo: "New tempo", transpose: "Transposing"};

function jobTitle(job) {
  const p = job.params || {};
  const target = {regen: ` ${p.section || "bars " + p.bars}`, rechord: ` of the ${p.section}: ${p.chords}`,
    extend: ` by ${p.bars} bars`, tempo: ` ${p.bpm} BPM`, transpose: ` ${p.semitones > 0 ? "+" : ""}${p.semitones}`,
    variation: ` ${p.strength}`}[job.kind] || "";
  return (JOB_NAMES[job.kind] || job.kind) + target;
}

// An extension's new bars do not exist yet: a pulsing tag at the song's end says how many are coming.
function markGrowth(job) {
  for (const old of $("timeline").querySelectorAll(".growing")) old.remove();
  if (!job || job.kind !== "extend" || job.project !== state.pid || !["queued", "running"].includes(job.status)) return;
  const tag = document.createElement("div");
  tag.className = "growing";
  tag.textContent = `+${job.params.bars} bars`;
  tag.title = `${job.params.bars} bars being added after the last`;
  $("timeline").append(tag);
}

function showJob(job) {
  markBars(barsBeingRewritten(job), "rewriting", "being rewritten");
  markGrowth(job);
  const box = $("job");
  state.shownJob = job && ["queued", "running"].includes(job.status) ? job : null;
  if (!job) { box.hidden = true; return; }
  box.hidden = false;
  $("job-label").textContent = jobTitle(job);
  $("job-cancel").hidden = !state.shownJob;
  $("job-cancel").disabled = state.cancelling === job.id;
  if (job.status === "queued") {
    $("job-stage").textContent = `waiting in the queue (position ${job.queue_position})`;
    $("job-bar").style.width = "0";
  } else {
    // The pipeline's stages in the order they run; an edit skips the ones it does not need.
    const order = job.kind === "generate" ? ["brief", "compose", "timbres", "render", "write", "preview"]
      : ["compose", "timbres", "render", "write", "preview"];
    const index = Math.max(0, order.indexOf(job.stage));
    const done = (index + (job.fraction || 0)) / order.length;
    $("job-stage").textContent = state.cancelling === job.id ? "cancelling…" : STAGES[job.stage] || job.stage || "starting";
    $("job-bar").style.width = `${Math.round(done * 100)}%`;
  }
}

// The bar shows the running job (else the next one); the other waiting jobs are listed under it.
function showJobs() {
  const mine = [...state.jobs.values()].filter((j) => j.project === state.pid
    && (j.status === "queued" || j.status === "running"));
  const waiting = mine.filter((j) => j.status === "queued")
    .sort((a, b) => (a.queue_position || 0) - (b.queue_position || 0));
  const shown = mine.find((j) => j.status === "running") || waiting[0];
  showJob(shown);
  $("queue").replaceChildren(...waiting.filter((j) => j !== shown).map((job) => {
    const item = document.createElement("li");
    item.dataset.job = job.id;
    const what = document.createElement("span");
    what.textContent = `then ${jobTitle(job)}`;
    const cancel = document.createElement("button");
    cancel.type = "button"; cancel.className = "ghost small cancel"; cancel.textContent = "×";
    cancel.title = "cancel this job"; cancel.disabled = state.cancelling === job.id;
    cancel.onclick = () => cancelJob(job);
    item.append(what, cancel);
    return item;
  }));
}

async function cancelJob(job) {
  if (!job) return;
  state.cancelling = job.id;
  showJobs();
  try {
    const cancelled = await api(`/api/jobs/${job.id}`, undefined, "DELETE");
    if (state.jobs.has(cancelled.id)) state.jobs.set(cancelled.id, cancelled);
    showJobs();
  } catch (error) {
    state.cancelling = null;
    showError($("project-error"), error);
  }
}

function follow(job) {
  if (state.streams.has(job.id)) return;
  const source = new EventSource(`/api/jobs/${job.id}/events`);
  state.streams.set(job.id, source);
  const update = (event) => {
    const current = JSON.parse(event.data);
    if (current.status === "queued" || current.status === "running") state.jobs.set(current.id, current);
    else state.jobs.delete(current.id);
    if (current.project === state.pid) showJobs();
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
    if (finished.error === "cancelled") showError($("project-error"), `${jobTitle(finished)}: cancelled, nothing changed`);
    else if (finished.status === "failed") showError($("project-error"), `${jobTitle(finished)} failed: ${finished.error}`);
    if (state.cancelling === finished.id) state.cancelling = null;
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
    state.jobs.set(job.id, job);
    showJobs();
    follow(job);
  } catch (error) {
    showError($("project-error"), error);
  }
}

// -- a version: audio, timeline, piano roll, spectrogram -------------------------------------------------

function versionUrl(version, file) { return `/api/projects/${state.pid}/versions/${version}/${file}`; }

async function showVersion(version) {
  const view = await api(versionUrl(version, "score.json"));
  const sameSong = state.view && state.view.tracks.length === view.tracks.length;
  state.viewVersion = version;
  state.view = view;
  mixerVersion(sameSong);
  if (state.selection && state.selection.last >= view.n_bars) state.selection = null;
  const audio = $("audio");
  const wasPlaying = !audio.paused;
  const at = audio.currentTime || 0;
  audio.src = versionUrl(version, "mix.wav");
  audio.load();
  if (at) audio.addEventListener("loadedmetadata", () => { audio.currentTime = Math.min(at, audio.duration); },
    {once: true});
  if (wasPlaying) audio.play().catch(() => {});
  $("viewing-version").textContent = version;
  followChips(view);
  $("viewing-note").textContent = version === state.summary.current ? " (current)" : " (not current: use it to make it current)";
  $("spectrogram").src = versionUrl(version, "spectrogram.png");
  quickLinks();
  $("dl-project").href = `/api/projects/${state.pid}/project.zip`;
  renderTimeline();
  renderTracks();
  renderHistory();
  renderSelection();
  drawPianoRoll();
  showChanges(version);
}

// What the version changed from the one it was made from, as `melodex diff` says it (GET .../diff).
async function showChanges(version) {
  const entry = state.summary.history.find((h) => h.id === version);
  const panel = $("changes");
  if (!entry || !entry.parent) { panel.hidden = true; return; }
  const list = $("changes-list");
  $("changes-title").textContent = `What ${version} changed from ${entry.parent} (${entry.edit})`;
  const reading = document.createElement("li");
  reading.className = "muted";
  reading.textContent = "reading the differences…";
  list.replaceChildren(reading);
  panel.hidden = false;
  try {
    const diff = await api(`/api/projects/${state.pid}/diff?a=${entry.parent}&b=${version}`);
    if (state.viewVersion !== version) return;  // another version was picked meanwhile
    $("changes-title").textContent = `What ${diff.b} changed from ${diff.a} (${entry.edit})`;
    list.replaceChildren(...diff.changes.map((line) => {
      const item = document.createElement("li");
      item.textContent = line;
      return item;
    }));
  } catch (error) {
    $("changes-title").textContent = "What changed";
    const item = document.createElement("li");
    item.className = "error";
    item.textContent = `The changes could not be read: ${error.message || error}`;
    list.replaceChildren(item);
  }
  panel.hidden = false;
}

// -- downloads with the options of `melodex export` (GET .../export.zip) ---------------------------------

// One set of output controls, two places: the create form's "Output" group (the create body's output fields,
// kept by the project for every edit) and the export form (the export's query). `prefix` names their ids.
function setUpOutputFields(prefix, choices) {
  const formats = $(`${prefix}-formats`);
  for (const format of choices.formats) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.value = format; box.checked = format === "wav"; box.className = `${prefix}-format`;
    label.append(box, ` ${format.toUpperCase()}`);
    formats.append(label);
  }
  fillSelect($(`${prefix}-stems`), choices.stems, choices.stems.map((k) => ({processed: "with effects",
    dry: "dry (no effects)", none: "none"}[k] || k)));
  fillSelect($(`${prefix}-bits`), choices.bit_depths, choices.bit_depths.map((b) => (b === 32 ? "32 float" : `${b}`)));
  $(`${prefix}-bits`).value = "24";
  fillSelect($(`${prefix}-kbps`), choices.mp3_kbps);
  $(`${prefix}-kbps`).value = String(choices.mp3_kbps[choices.mp3_kbps.length - 1]);
  $(`${prefix}-lufs`).min = choices.lufs[0];
  $(`${prefix}-lufs`).max = choices.lufs[1];
  $(`${prefix}-master`).onchange = () => { $(`${prefix}-lufs`).disabled = !$(`${prefix}-master`).checked; };
}

// The output fields as the API names them (OutputFields); no loudness when there is no master to reach it
function outputFields(prefix) {
  const lufs = $(`${prefix}-lufs`).value;
  return {
    format: [...document.querySelectorAll(`.${prefix}-format:checked`)].map((box) => box.value),
    stems: $(`${prefix}-stems`).value, bit_depth: Number($(`${prefix}-bits`).value),
    mp3_kbps: Number($(`${prefix}-kbps`).value), master: $(`${prefix}-master`).checked,
    lufs: $(`${prefix}-master`).checked && lufs !== "" ? Number(lufs) : null,
    click: $(`${prefix}-click`).checked, chord_markers: $(`${prefix}-chords`).checked,
  };
}

function setUpExport(choices) {
  setUpOutputFields("export", choices);
  fillSelect($("export-rate"), choices.sample_rates, choices.sample_rates.map((r) => `${r / 1000} kHz`));
  $("do-export").onclick = () => {
    if (!document.querySelector(".export-format:checked")) {
      showError($("project-error"), "Export: tick at least one format for the mix (WAV, FLAC or MP3)");
      return;
    }
    download(exportUrl(), $("export-status"));
  };
}

// The quick links are single files of an export (GET .../export/<file>) with the export form's quality: the
// sample rate, bit depth, bitrate, loudness or no master, the kind of stems and chord markers chosen there. They
// stay the whole song (a loop of one section is the form's own download), and "Stems" are never none.
const QUICK_LINKS = [["dl-wav", "mix.wav"], ["dl-flac", "mix.flac"], ["dl-mp3", "mix.mp3"], ["dl-stems", "stems.zip"],
  ["dl-midi", "song.mid"]];

function quickLinks() {
  const query = exportQuery();
  query.delete("section");
  query.delete("click");
  if (query.get("stems") === "none") query.set("stems", "processed");
  for (const [id, file] of QUICK_LINKS) $(id).href = `${versionUrl(state.viewVersion, `export/${file}`)}?${query}`;
}

function exportUrl() {
  return `${versionUrl(state.viewVersion, "export.zip")}?${exportQuery()}`;
}

function exportQuery() {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(outputFields("export"))) {
    if (Array.isArray(value)) for (const item of value) query.append(name, item);
    else if (value !== null) query.set(name, value);
  }
  if ($("export-rate").value) query.set("sample_rate", $("export-rate").value);
  if ($("export-section").value) query.set("section", $("export-section").value);
  return query;
}

function renderTimeline() {
  const view = state.view;
  const timeline = $("timeline");
  timeline.replaceChildren();
  const sections = view.sections.length ? view.sections
    : [{name: "song", start_bar: 0, n_bars: view.n_bars, start: 0, end: view.duration}];
  const names = [...new Set(sections.map((s) => s.name.replace(/ \d+$/, "")))];
  // every control that names a section offers this version's sections
  const pickers = [[$("track-scope"), 1], [$("export-section"), 1], [$("rechord-section"), 0]];
  const chosen = pickers.map(([select]) => select.value);
  for (const [select, keep] of pickers) select.length = keep;
  for (const section of sections) {
    const block = document.createElement("div");
    block.className = "section";
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
      fillSelect($("track-scope"), [section.name], [`the ${section.name}`]);
      fillSelect($("export-section"), [section.name], [`the ${section.name}, as a loop`]);
      fillSelect($("rechord-section"), [section.name], [`the ${section.name}`]);
    }
    // a click picks the section's bars (shift-click adds it to the bars already picked) and plays from there
    block.onclick = (event) => {
      const first = section.start_bar, last = section.start_bar + section.n_bars - 1;
      const grow = event.shiftKey && state.selection;
      select(grow ? Math.min(first, state.selection.first) : first, grow ? Math.max(last, state.selection.last) : last);
      $("audio").currentTime = view.bar_lines[state.selection.first];
      if (view.sections.length && !grow) $("track-scope").value = section.name;
    };
    timeline.append(block);
  }
  pickers.forEach(([select], i) => { if ([...select.options].some((o) => o.value === chosen[i])) select.value = chosen[i]; });
  $("do-rechord").disabled = !view.sections.length;
  markBars(view.changed_bars || [], "changed", "changed by this version");
  markBars(barsBeingRewritten(state.shownJob), "rewriting", "being rewritten");
  markGrowth(state.shownJob);
}

// -- the picked bars: looped, regenerated, shown over the views ------------------------------------------

function barAt(fraction) {
  const lines = state.view.bar_lines, seconds = fraction * state.view.duration;
  let bar = 0;
  while (bar + 1 < state.view.n_bars && lines[bar + 1] <= seconds) bar++;
  return bar;
}

function select(first, last) {
  state.selection = first === null ? null : {first: Math.min(first, last), last: Math.max(first, last)};
  renderSelection();
}

function selectedSeconds() {
  const sel = state.selection, lines = state.view.bar_lines;
  if (!sel) return {start: 0, end: state.view.duration};
  return {start: lines[sel.first], end: lines[Math.min(sel.last + 1, lines.length - 1)]};
}

function renderSelection() {
  const view = state.view, sel = state.selection, box = $("selection-box");
  const section = sel && view.sections.find((s) => s.start_bar === sel.first && s.start_bar + s.n_bars - 1 === sel.last);
  for (const block of $("timeline").querySelectorAll(".section")) {
    const s = view.sections.find((x) => x.name === block.dataset.section);
    block.classList.toggle("selected", Boolean(sel && s && s.start_bar >= sel.first && s.start_bar + s.n_bars - 1 <= sel.last));
  }
  $("regen-selection").hidden = $("clear-selection").hidden = !sel;
  if (!sel) {
    box.hidden = true;
    $("selection-label").textContent = "the whole song (drag on the piano roll to pick bars)";
    return;
  }
  const {start, end} = selectedSeconds();
  box.hidden = false;
  box.style.left = `${(start / view.duration) * 100}%`;
  box.style.width = `${((end - start) / view.duration) * 100}%`;
  const bars = sel.first === sel.last ? `bar ${sel.first + 1}` : `bars ${sel.first + 1}–${sel.last + 1}`;
  $("selection-label").textContent = section ? `${bars} (the ${section.name})` : bars;
  $("regen-selection").title = `rewrite the notes of ${bars}, every track`;
}

// Drag across the piano roll or spectrogram to pick bars; a click without a drag moves the playhead there.
function setUpDragSelect() {
  const area = document.querySelector(".view-area");
  let anchor = null;
  const fraction = (event) => {
    const rect = area.getBoundingClientRect();
    return Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
  };
  area.addEventListener("pointerdown", (event) => {
    if (!state.view || event.button !== 0) return;
    anchor = {x: event.clientX, bar: barAt(fraction(event)), dragged: false};
    area.setPointerCapture(event.pointerId);
  });
  area.addEventListener("pointermove", (event) => {
    if (!anchor) return;
    if (Math.abs(event.clientX - anchor.x) > 4) anchor.dragged = true;
    if (anchor.dragged) select(anchor.bar, barAt(fraction(event)));
  });
  area.addEventListener("pointerup", (event) => {
    if (anchor && !anchor.dragged) $("audio").currentTime = fraction(event) * state.view.duration;
    else if (anchor) $("audio").currentTime = selectedSeconds().start;
    anchor = null;
  });
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
  if (job.kind === "rechord") {
    const section = view.sections.find((s) => s.name === job.params.section);
    return section ? range(section.start_bar, section.start_bar + section.n_bars) : [];
  }
  if (["variation", "tempo", "transpose", "rerender", "retimbre"].includes(job.kind)) return range(0, view.n_bars);
  return [];  // extend rewrites no bar: markGrowth shows the bars it adds
}

function trackColour(index) { return TRACK_COLOURS[index % TRACK_COLOURS.length]; }

function renderTracks() {
  const list = $("tracks");
  list.replaceChildren();
  const legend = $("legend");
  legend.replaceChildren();
  for (const track of state.view.tracks) {
    // people count tracks from 1, as the stem files do; a preview cached before `number` existed has only index
    const number = track.number ?? track.index + 1;
    const item = document.createElement("li");
    item.dataset.track = track.index;
    const swatch = document.createElement("span");
    swatch.className = "swatch"; swatch.style.background = trackColour(track.index);
    const what = document.createElement("div");
    what.className = "what";
    const title = document.createElement("b");
    title.textContent = `${number}. ${track.instrument}`;
    const detail = document.createElement("div");
    detail.textContent = `${track.role} · ${track.notes.length} notes · ${track.renderer || "?"}: ${track.timbre}`;
    what.append(title, detail);
    const regen = document.createElement("button");
    regen.type = "button"; regen.className = "regen-track"; regen.textContent = "↻ notes";
    regen.title = "rewrite this track's notes (in the section chosen above, or the whole song)";
    regen.onclick = () => {
      const section = $("track-scope").value;
      const body = {tracks: [String(number)]};
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
      submitEdit("retimbre", {track: String(number), text: words.value.trim()});
    };
    words.onkeydown = (event) => { if (event.key === "Enter") { event.preventDefault(); apply.click(); } };
    retimbre.append(words, apply);
    item.dataset.channel = track.index;
    const actions = document.createElement("span");
    actions.className = "actions";
    actions.append(mixerButtons(track.index, `${number}. ${track.instrument}`), regen);
    item.append(swatch, what, actions, retimbre);
    list.append(item);
    const key = document.createElement("span");
    const dot = document.createElement("i");
    dot.style.background = trackColour(track.index);
    key.append(dot, track.instrument);
    legend.append(key);
  }
  const reverb = document.createElement("li");
  reverb.className = "reverb";
  reverb.dataset.channel = state.view.tracks.length;
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  const what = document.createElement("div");
  what.className = "what";
  what.innerHTML = "<b>reverb return</b><div>the room every track shares</div>";
  const actions = document.createElement("span");
  actions.className = "actions";
  actions.append(mixerButtons(state.view.tracks.length, "the reverb return"));
  reverb.append(swatch, what, actions);
  list.append(reverb);
  renderMixer();
}

// The prompt's chips show what the version being played has, not what the first version had: a tempo, key or
// chord edit, or an extension, changes them. A chip that changed from the brief says so in its tooltip.
function followChips(view) {
  const form = view.sections.map((s) => `${s.name.replace(/ \d+$/, "")} ${s.n_bars}`).join(", ");
  const names = view.chords.map((c) => c.name).filter((name, i, all) => i === 0 || name !== all[i - 1]);
  const chords = names.length > 8 ? `${names.slice(0, 8).join(" ")} …` : names.join(" ");
  const now = {tempo: `${view.bpm} BPM`, key: view.key, meter: view.meter, form: form || undefined,
    chords: chords || undefined, length: `${view.n_bars} bars, ${view.bar_lines[view.bar_lines.length - 1].toFixed(1)} s`};
  for (const chip of document.querySelectorAll("#brief [data-what]")) {
    const value = now[chip.dataset.what];
    if (value === undefined) continue;
    const shown = chip.querySelector(".value");
    shown.textContent = value;
    const asked = chip.dataset.brief;
    chip.classList.toggle("edited", state.viewVersion !== state.summary.history[0].id && asked !== value
      && ["tempo", "key", "length"].includes(chip.dataset.what));  // the brief words chords otherwise
    chip.title = `version ${view.version}: ${value}` + (asked !== value ? ` (the prompt was read as: ${asked})` : "");
  }
}

// History as a tree: each version under the one it was made from, newest branch first, drawn with branch
// lines, so an edit made after an undo shows as a branch instead of hiding in a flat list.
function historyTree(history) {
  const children = new Map();
  for (const entry of history) {
    const key = entry.parent || "";
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(entry);
  }
  const ordered = [];
  const visit = (parent, depth, prefix) => {
    const kids = [...(children.get(parent) || [])].reverse();
    kids.forEach((entry, i) => {
      const last = i === kids.length - 1;
      ordered.push({entry, depth, branch: depth ? prefix + (last ? "└─" : "├─") : "",
        forks: (children.get(entry.id) || []).length});
      visit(entry.id, depth + 1, depth ? prefix + (last ? "\u00a0\u00a0" : "│\u00a0") : "");
    });
  };
  visit("", 0, "");
  return ordered;
}

function renderHistory() {
  const summary = state.summary;
  const list = $("history");
  list.replaceChildren();
  const busy = summary.jobs.some((j) => j.status === "queued" || j.status === "running");
  for (const {entry, depth, branch, forks} of historyTree(summary.history)) {
    const item = document.createElement("li");
    item.dataset.version = entry.id;
    item.dataset.depth = depth;
    item.classList.toggle("current", entry.id === summary.current);
    item.classList.toggle("viewing", entry.id === state.viewVersion);
    const lines = document.createElement("span");
    lines.className = "branch"; lines.textContent = branch;
    const id = document.createElement("span");
    id.className = "vid"; id.textContent = entry.id;
    const edit = document.createElement("span");
    edit.className = "edit"; edit.textContent = entry.edit;
    edit.title = `${entry.edit}${entry.parent ? " (from " + entry.parent + ")" : ""}`
      + (forks > 1 ? `: ${forks} versions were made from it` : "");
    const listen = document.createElement("button");
    listen.type = "button"; listen.className = "ghost listen"; listen.textContent = "▶";
    listen.title = "listen to this version"; listen.disabled = entry.id === state.viewVersion;
    listen.onclick = () => showVersion(entry.id).then(() => $("audio").play().catch(() => {}))
      .catch((error) => showError($("project-error"), error));
    const use = document.createElement("button");
    use.type = "button"; use.className = "checkout"; use.textContent = "Use";
    use.title = "make this the current version (the next edit starts from it)";
    use.disabled = busy || entry.id === summary.current;
    use.onclick = () => checkout(entry.id);
    item.append(lines, id, edit, listen, use);
    list.append(item);
  }
  const current = summary.history.find((h) => h.id === summary.current);
  $("undo").disabled = busy || !current || !current.parent;
  $("redo").disabled = busy || !summary.history.some((h) => h.parent === summary.current);
  $("prune").disabled = busy || summary.history.length < 2;
}

async function checkout(version) {
  showError($("project-error"), null);
  try {
    await api(`/api/projects/${state.pid}/checkout`, {version});
    await refreshProject(false);
  } catch (error) { showError($("project-error"), error); }
}

// Undo and redo move the current version along the tree (POST .../undo, .../redo); nothing is deleted.
async function step(kind) {
  showError($("project-error"), null);
  try {
    await api(`/api/projects/${state.pid}/${kind}`, {});
    await refreshProject(false);
  } catch (error) { showError($("project-error"), error); }
}

async function prune() {
  showError($("project-error"), null);
  const status = $("prune-status");
  try {
    const done = await api(`/api/projects/${state.pid}/prune`, {});
    const mb = (done.freed_bytes / 2 ** 20).toFixed(1);
    status.textContent = done.pruned.length
      ? `Freed ${mb} MB: the audio of ${done.pruned.length} version${done.pruned.length > 1 ? "s" : ""} ` +
        `(${done.pruned.join(", ")}); they still play, their audio made again when asked for.`
      : "Nothing to free: only the current version has its audio.";
    status.hidden = false;
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

// -- mute and solo: the stems through Web Audio -----------------------------------------------------------
//
// The <audio> element stays the transport (seek bar, playhead, loop, space). While no track is muted or soloed
// the mix plays; otherwise the element is silenced inside an AudioContext and every stem (and the reverb
// return, the last channel: with it the stems add up to the mix) plays there, started at the element's
// time and restarted whenever it seeks or drifts. Stems are fetched and decoded on the first mute or solo.

const mixer = {
  ctx: null, mixGain: null, bus: null, meter: null, gains: [], buffers: null, sources: [], loading: null,
  muted: new Set(), soloed: new Set(), startedAt: 0, offset: 0, error: null,

  channels() { return state.view ? state.view.tracks.length + 1 : 0; },  // the tracks, then the reverb return
  active() { return this.muted.size > 0 || this.soloed.size > 0; },
  playingStems() { return this.active() && this.buffers !== null; },
  gainOf(channel) {
    if (this.muted.has(channel)) return 0;
    return this.soloed.size && !this.soloed.has(channel) ? 0 : 1;
  },

  context() {
    if (this.ctx) return this.ctx;
    const audio = $("audio");
    this.ctx = new AudioContext();
    this.mixGain = this.ctx.createGain();
    this.bus = this.ctx.createGain();
    this.meter = this.ctx.createAnalyser();
    this.meter.fftSize = 2048;
    this.ctx.createMediaElementSource(audio).connect(this.mixGain);
    this.mixGain.connect(this.meter);
    this.bus.connect(this.meter);
    this.meter.connect(this.ctx.destination);
    $("level").hidden = false;
    audio.addEventListener("play", () => { this.ctx.resume(); this.restart(); });
    audio.addEventListener("pause", () => this.stop());
    audio.addEventListener("seeked", () => this.restart());
    audio.addEventListener("ended", () => this.stop());
    audio.addEventListener("volumechange", () => this.apply());
    return this.ctx;
  },

  toggle(kind, channel) {
    const set = kind === "mute" ? this.muted : this.soloed;
    if (set.has(channel)) set.delete(channel); else set.add(channel);
    this.context().resume();
    if (this.active() && !this.buffers) this.load(); else this.apply();
    renderMixer();
  },

  async load() {
    const version = state.viewVersion, ctx = this.context();
    const loading = Symbol(version);
    this.loading = loading;
    this.error = null;
    renderMixer();
    try {
      const buffers = await Promise.all(Array.from({length: this.channels()}, async (_, channel) => {
        const response = await fetch(versionUrl(version, `stems/${channel + 1}.wav`));  // stems count from 1
        if (!response.ok) {
          let data = null;
          try { data = await response.json(); } catch (_) { /* not JSON */ }
          throw new Error(problem(response, data));
        }
        return ctx.decodeAudioData(await response.arrayBuffer());
      }));
      if (this.loading !== loading) return;  // another version was picked meanwhile
      this.gains.forEach((g) => g.disconnect());
      this.gains = buffers.map(() => { const g = ctx.createGain(); g.connect(this.bus); return g; });
      this.buffers = buffers;
    } catch (error) {
      if (this.loading !== loading) return;
      this.error = `The stems could not be loaded, so the mix plays unchanged: ${error.message || error}`;
    } finally {
      if (this.loading === loading) this.loading = null;
    }
    this.apply();
    this.restart();
    renderMixer();
  },

  // The levels now: the mix or the stems, each stem's mute/solo, the element's own volume and mute.
  apply() {
    if (!this.ctx) return;
    const audio = $("audio"), now = this.ctx.currentTime, stems = this.playingStems();
    this.mixGain.gain.setTargetAtTime(stems ? 0 : 1, now, 0.01);
    this.bus.gain.setTargetAtTime(stems && !audio.muted ? audio.volume : 0, now, 0.01);
    this.gains.forEach((g, channel) => g.gain.setTargetAtTime(this.gainOf(channel), now, 0.01));
  },

  stop() {
    for (const source of this.sources) { try { source.stop(); } catch (_) { /* not started */ } source.disconnect(); }
    this.sources = [];
  },

  restart() {
    this.stop();
    const audio = $("audio");
    if (!this.playingStems() || audio.paused) return;
    const when = this.ctx.currentTime + 0.03;
    this.offset = audio.currentTime + 0.03;
    this.startedAt = when;
    this.buffers.forEach((buffer, channel) => {
      if (this.offset >= buffer.duration) return;
      const source = this.ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(this.gains[channel]);
      source.start(when, this.offset);
      this.sources.push(source);
    });
  },

  // Called every frame: stems that drifted from the element (a stall, a tab in the background) start again.
  follow() {
    if (this.ctx && this.meter) drawLevel(this.level());
    if (!this.playingStems() || $("audio").paused || !this.sources.length) return;
    const expected = this.offset + (this.ctx.currentTime - this.startedAt);
    if (Math.abs(expected - $("audio").currentTime) > 0.12) this.restart();
  },

  level() {
    const samples = new Float32Array(this.meter.fftSize);
    this.meter.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const x of samples) sum += x * x;
    return Math.sqrt(sum / samples.length);
  },
};

// A new version: its own stems (loaded again if they are in use); mute and solo stay if the tracks are the same.
function mixerVersion(sameSong) {
  mixer.stop();
  mixer.buffers = null;
  mixer.loading = null;
  if (!sameSong) { mixer.muted.clear(); mixer.soloed.clear(); }
  if (mixer.active()) mixer.load(); else mixer.apply();
}

function drawLevel(rms) {
  const db = 20 * Math.log10(Math.max(rms, 1e-6));
  $("level").firstChild.style.width = `${Math.max(0, Math.min(100, (db + 60) / 60 * 100))}%`;
}

function renderMixer() {
  for (const button of document.querySelectorAll("[data-mixer]")) {
    const channel = Number(button.dataset.channel);
    const on = (button.dataset.mixer === "mute" ? mixer.muted : mixer.soloed).has(channel);
    button.classList.toggle("on", on);
    button.setAttribute("aria-pressed", String(on));
  }
  for (const item of document.querySelectorAll("#tracks li")) {
    item.classList.toggle("silent", mixer.active() && mixer.gainOf(Number(item.dataset.channel)) === 0);
  }
  const status = $("mixer-status");
  status.classList.toggle("error", Boolean(mixer.error));
  const muted = mixer.muted.size, soloed = mixer.soloed.size;
  status.textContent = mixer.error ? mixer.error
    : mixer.loading ? "loading the stems…"
      : mixer.playingStems() ? `playing the stems: ${[soloed && `${soloed} soloed`, muted && `${muted} muted`]
        .filter(Boolean).join(", ")}`
        : "M mutes a track, S solos it: the stems then play instead of the mix (the reverb return is their shared room).";
}

function mixerButtons(channel, name) {
  const box = document.createElement("span");
  box.className = "mixer";
  for (const [kind, letter] of [["mute", "M"], ["solo", "S"]]) {
    const button = document.createElement("button");
    button.type = "button"; button.className = `ghost small ${kind}`; button.textContent = letter;
    button.dataset.mixer = kind; button.dataset.channel = String(channel);
    button.title = `${kind} ${name}`;
    button.onclick = () => mixer.toggle(kind, channel);
    box.append(button);
  }
  return box;
}

// With "Loop" ticked, playback repeats the picked bars (or the whole song).
function loopRegion() {
  if (!$("loop").checked || !state.view) return null;
  return selectedSeconds();
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
  mixer.follow();
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
  $("undo").onclick = () => step("undo");
  $("redo").onclick = () => step("redo");
  $("prune").onclick = prune;
  $("job-cancel").onclick = () => cancelJob(state.shownJob);
  // An empty box is sent as null: the API then names the missing field, the page never guesses a value.
  const number = (id) => ($(id).value === "" ? null : Number($(id).value));
  $("do-extend").onclick = () => submitEdit("extend", {bars: number("extend-bars")});
  $("do-variation").onclick = () => submitEdit("variation", {strength: number("variation-strength")});
  $("do-rerender").onclick = () => submitEdit("rerender", {cfg: number("rerender-cfg"), steps: number("rerender-steps")});
  $("do-tempo").onclick = () => submitEdit("tempo", {bpm: number("tempo-bpm")});
  $("do-transpose").onclick = () => submitEdit("transpose", {semitones: number("transpose-semitones")});
  $("do-rechord").onclick = () => submitEdit("rechord", {section: $("rechord-section").value,
    chords: $("rechord-chords").value});
  $("regen-selection").onclick = () => state.selection && submitEdit("regen",
    {bars: `${state.selection.first + 1}:${state.selection.last + 1}`});
  $("clear-selection").onclick = () => select(null);
  for (const link of document.querySelectorAll("#downloads a")) {
    link.onclick = (event) => {
      event.preventDefault();
      quickLinks();  // the export form may have changed since the links were set
      download(link.href, $("download-status"));
    };
  }
  setUpExport(o.export);
  setUpOutputFields("output", o.export);
  setUpDragSelect();
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
