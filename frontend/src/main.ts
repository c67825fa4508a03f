// pacsweb viewer: boots Cornerstone3D, reads the study from /dicomweb and
// wires the toolbar, keys and panels to the viewport grid.

import { Enums, eventTarget, init as coreInit } from "@cornerstonejs/core";
import { init as imageLoaderInit } from "@cornerstonejs/dicom-image-loader";
import { LengthTool, PanTool, StackScrollTool, WindowLevelTool, ZoomTool, addTool, init as toolsInit } from "@cornerstonejs/tools";
import { DicomWeb, type LoadedSeries, type SeriesInfo } from "./dicomweb";
import { el, markSeries, renderMetadata, renderSeriesPanel } from "./panels";
import { registerWadorsLoader } from "./pixels";
import { CT_PRESETS } from "./presets";
import "./viewer.css";
import { type Layout, ViewportGrid } from "./viewports";

const TOOL_LABELS: [string, string][] = [
  [WindowLevelTool.toolName, "Window"],
  [PanTool.toolName, "Pan"],
  [ZoomTool.toolName, "Zoom"],
  [LengthTool.toolName, "Length"],
];
const CINE_FPS = 10;

async function boot(root: HTMLElement): Promise<void> {
  const dicomweb = new DicomWeb(new URL(root.dataset.dicomweb!, location.href).href.replace(/\/$/, ""), root.dataset.studyUid!);

  await coreInit();
  imageLoaderInit({ maxWebWorkers: Math.max(1, Math.min(2, navigator.hardwareConcurrency - 1)) });
  registerWadorsLoader();
  toolsInit();
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, LengthTool, StackScrollTool]) addTool(tool);

  const seriesPanel = el("aside", "series-panel");
  const metaPanel = el("aside", "meta-panel");
  const toolbar = el("div", "toolbar");
  const status = el("p", "viewer-status");
  status.setAttribute("role", "status");
  const gridElement = el("div", "viewport-grid");
  const centre = el("section", "viewer-centre");
  centre.append(toolbar, status, gridElement);
  root.replaceChildren(seriesPanel, centre, metaPanel);

  const grid = new ViewportGrid(gridElement);
  const loaded = new Map<string, Promise<LoadedSeries>>();
  let seriesList: SeriesInfo[] = [];

  const load = (uid: string) => {
    if (!loaded.has(uid)) loaded.set(uid, dicomweb.loadSeries(uid));
    return loaded.get(uid)!;
  };

  async function showSeries(uid: string, slotIndex = grid.active): Promise<void> {
    status.textContent = "Loading series…";
    try {
      await grid.show(await load(uid), grid.slots[slotIndex]);
      status.textContent = "";
      root.dataset.state = "ready";
    } catch (error) {
      loaded.delete(uid);
      status.textContent = `Cannot show this series: ${(error as Error).message}`;
      root.dataset.state = "error";
    }
  }

  // A frame that cannot be fetched or decoded does not always reject the
  // viewport's promise; the loader's events say so in every case.
  const showLoadError = (event: Event) => {
    const detail = (event as CustomEvent).detail;
    const error = detail?.error ?? (Array.isArray(detail) ? detail[0]?.reason : detail);
    status.textContent = `Cannot show an image: ${error?.message ?? error ?? "load failed"}`;
    if (root.dataset.state !== "ready") root.dataset.state = "error";
  };
  eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_ERROR, showLoadError);
  eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_FAILED, showLoadError);

  buildToolbar(toolbar, grid, async (layout) => {
    grid.setLayout(layout);
    // New viewports get the following series, so 2x2 compares at a glance.
    const current = grid.slots[0].series?.uid;
    const start = Math.max(0, seriesList.findIndex((s) => s.uid === current));
    for (let i = 1; i < grid.slots.length && layout === "2x2"; i += 1) {
      if (!grid.slots[i].series && seriesList.length) await showSeries(seriesList[(start + i) % seriesList.length].uid, i);
    }
  });

  grid.onChange(() => {
    const slot = grid.activeSlot();
    markSeries(seriesPanel, slot.series?.uid ?? null);
    const viewport = grid.viewport(slot);
    const imageId = viewport && slot.series ? viewport.getCurrentImageId() : undefined;
    renderMetadata(metaPanel, imageId ? slot.series!.metadataById.get(imageId) : undefined);
    toolbar.querySelectorAll<HTMLButtonElement>("[data-tool]").forEach((b) => b.classList.toggle("on", b.dataset.tool === grid.tool));
    toolbar.querySelector<HTMLButtonElement>("[data-action=cine]")!.classList.toggle("on", slot.playing);
  });

  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return;
    const keys: Record<string, () => void> = {
      ArrowDown: () => grid.scroll(1),
      ArrowRight: () => grid.scroll(1),
      PageDown: () => grid.scroll(1),
      ArrowUp: () => grid.scroll(-1),
      ArrowLeft: () => grid.scroll(-1),
      PageUp: () => grid.scroll(-1),
      Home: () => void grid.jump(false),
      End: () => void grid.jump(true),
      i: () => grid.invert(),
      r: () => grid.reset(),
      c: () => grid.toggleCine(CINE_FPS),
    };
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  try {
    seriesList = await dicomweb.series();
  } catch (error) {
    status.textContent = `Cannot list the series of this study: ${(error as Error).message}`;
    root.dataset.state = "error";
    return;
  }
  renderSeriesPanel(seriesPanel, seriesList, (uid) => void showSeries(uid));
  const wanted = root.dataset.seriesUid;
  const first = seriesList.find((s) => s.uid === wanted) ?? seriesList[0];
  if (!first) {
    status.textContent = "This study has no series.";
    root.dataset.state = "error";
    return;
  }
  await showSeries(first.uid);
}

function buildToolbar(toolbar: HTMLElement, grid: ViewportGrid, onLayout: (layout: Layout) => void): void {
  for (const [name, label] of TOOL_LABELS) {
    const button = el("button", "", label);
    button.type = "button";
    button.dataset.tool = name;
    button.addEventListener("click", () => grid.setPrimaryTool(name));
    toolbar.append(button);
  }

  const presets = el("select");
  presets.setAttribute("aria-label", "Window preset");
  presets.append(new Option("CT presets…", ""));
  for (const [label, width, center] of CT_PRESETS) presets.append(new Option(`${label} (${width}/${center})`, `${width},${center}`));
  presets.addEventListener("change", () => {
    const [width, center] = presets.value.split(",").map(Number);
    if (presets.value) grid.setWindow(width, center);
    presets.value = "";
  });
  toolbar.append(presets);

  const actions: [string, string, () => void][] = [
    ["invert", "Invert", () => grid.invert()],
    ["reset", "Reset", () => grid.reset()],
    ["cine", "Cine", () => grid.toggleCine(CINE_FPS)],
    ["layout-1x1", "1×1", () => onLayout("1x1")],
    ["layout-2x2", "2×2", () => onLayout("2x2")],
  ];
  for (const [action, label, run] of actions) {
    const button = el("button", "", label);
    button.type = "button";
    button.dataset.action = action;
    button.addEventListener("click", run);
    toolbar.append(button);
  }
}

const root = document.getElementById("viewer-root");
if (root) {
  boot(root).catch((error: unknown) => {
    root.dataset.state = "error";
    root.append(el("p", "viewer-status", `The viewer could not start: ${(error as Error).message}`));
  });
}
