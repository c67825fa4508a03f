// The viewport grid: up to four stack viewports in one rendering engine,
// sharing one tool group. One viewport is active at a time; the toolbar,
// keys and series panel act on it.

import { Enums, RenderingEngine, type StackViewport, type Types } from "@cornerstonejs/core";
import {
  Enums as ToolEnums,
  LengthTool,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  utilities as toolUtilities,
} from "@cornerstonejs/tools";
import type { LoadedSeries } from "./dicomweb";
import { voiRange } from "./presets";

const ENGINE_ID = "pacsweb-engine";
const TOOL_GROUP_ID = "pacsweb-tools";
export const PRIMARY_TOOLS = [WindowLevelTool.toolName, PanTool.toolName, ZoomTool.toolName, LengthTool.toolName];

export type Layout = "1x1" | "2x2";

interface Slot {
  id: string;
  element: HTMLDivElement;
  overlay: HTMLDivElement;
  series: LoadedSeries | null;
  enabled: boolean;
  playing: boolean;
}

export class ViewportGrid {
  readonly engine = new RenderingEngine(ENGINE_ID);
  readonly slots: Slot[] = [];
  layout: Layout = "1x1";
  active = 0;
  private primaryTool = WindowLevelTool.toolName;
  private listeners: (() => void)[] = [];

  constructor(readonly container: HTMLElement) {
    for (let i = 0; i < 4; i += 1) {
      const wrapper = document.createElement("div");
      wrapper.className = "viewport";
      const element = document.createElement("div");
      element.className = "viewport-element";
      // Right-drag zooms: the browser menu would get in the way.
      element.addEventListener("contextmenu", (event) => event.preventDefault());
      const overlay = document.createElement("div");
      overlay.className = "viewport-overlay";
      wrapper.append(element, overlay);
      wrapper.addEventListener("pointerdown", () => this.activate(i));
      container.append(wrapper);
      const slot: Slot = { id: `viewport-${i}`, element, overlay, series: null, enabled: false, playing: false };
      element.addEventListener(Enums.Events.IMAGE_RENDERED, () => this.describe(slot));
      this.slots.push(slot);
    }
    this.createToolGroup();
    this.setLayout("1x1");
    // Canvases follow their element's size (window resizes, the toolbar
    // wrapping); keepCamera so a zoomed or panned image stays where it is.
    new ResizeObserver(() => this.engine.resize(true, true)).observe(container);
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    this.listeners.forEach((listener) => listener());
  }

  private createToolGroup(): void {
    const group = ToolGroupManager.createToolGroup(TOOL_GROUP_ID)!;
    for (const name of [...PRIMARY_TOOLS, StackScrollTool.toolName]) {
      group.addTool(name);
    }
    group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Wheel }] });
    this.setPrimaryTool(WindowLevelTool.toolName);
  }

  /** The tool on the left button; pan and zoom stay on middle and right. */
  setPrimaryTool(name: string): void {
    const group = ToolGroupManager.getToolGroup(TOOL_GROUP_ID)!;
    const { Primary, Auxiliary, Secondary } = ToolEnums.MouseBindings;
    const extra: Record<string, number> = { [PanTool.toolName]: Auxiliary, [ZoomTool.toolName]: Secondary };
    for (const tool of PRIMARY_TOOLS) {
      const bindings = [] as { mouseButton: number }[];
      if (tool === name) bindings.push({ mouseButton: Primary });
      if (extra[tool] !== undefined) bindings.push({ mouseButton: extra[tool] });
      if (bindings.length) {
        group.setToolActive(tool, { bindings });
      } else {
        group.setToolPassive(tool);
      }
    }
    this.primaryTool = name;
    this.container.dataset.tool = name;
    this.changed();
  }

  get tool(): string {
    return this.primaryTool;
  }

  setLayout(layout: Layout): void {
    this.layout = layout;
    this.container.dataset.layout = layout;
    const count = layout === "1x1" ? 1 : 4;
    const group = ToolGroupManager.getToolGroup(TOOL_GROUP_ID)!;
    this.slots.forEach((slot, index) => {
      const wanted = index < count;
      (slot.element.parentElement as HTMLElement).hidden = !wanted;
      if (wanted && !slot.enabled) {
        this.engine.enableElement({ viewportId: slot.id, type: Enums.ViewportType.STACK, element: slot.element });
        group.addViewport(slot.id, ENGINE_ID);
        slot.enabled = true;
      } else if (!wanted && slot.enabled) {
        this.stopCine(slot);
        group.removeViewports(ENGINE_ID, slot.id);
        this.engine.disableElement(slot.id);
        slot.enabled = false;
        slot.series = null;
      }
    });
    this.engine.resize(true, true);
    if (this.active >= count) this.activate(0);
    this.changed();
  }

  activate(index: number): void {
    this.active = index;
    this.slots.forEach((slot, i) => slot.element.parentElement!.classList.toggle("active", i === index));
    this.changed();
  }

  activeSlot(): Slot {
    return this.slots[this.active];
  }

  viewport(slot: Slot = this.activeSlot()): StackViewport | null {
    return slot.enabled ? (this.engine.getViewport(slot.id) as StackViewport) : null;
  }

  async show(series: LoadedSeries, slot: Slot = this.activeSlot()): Promise<void> {
    const viewport = this.viewport(slot);
    if (!viewport) return;
    this.stopCine(slot);
    slot.series = series;
    delete slot.element.dataset.seriesUid;
    await viewport.setStack(series.imageIds, 0);
    // The overlay and panel follow the stack at once; data-series-uid says
    // when the new series is actually on the canvas (read by tests).
    slot.element.addEventListener(
      Enums.Events.IMAGE_RENDERED,
      () => {
        if (slot.series === series) slot.element.dataset.seriesUid = series.uid;
      },
      { once: true },
    );
    viewport.render();
    this.changed();
  }

  scroll(delta: number): void {
    const viewport = this.viewport();
    if (viewport) viewport.scroll(delta, false, false);
  }

  async jump(toEnd: boolean): Promise<void> {
    const viewport = this.viewport();
    if (!viewport) return;
    await viewport.setImageIdIndex(toEnd ? viewport.getImageIds().length - 1 : 0);
  }

  setWindow(width: number, center: number): void {
    const viewport = this.viewport();
    if (!viewport) return;
    viewport.setProperties({ voiRange: voiRange(width, center) });
    viewport.render();
  }

  invert(): void {
    const viewport = this.viewport();
    if (!viewport) return;
    viewport.setProperties({ invert: !viewport.getProperties().invert });
    viewport.render();
  }

  reset(): void {
    const viewport = this.viewport();
    if (!viewport) return;
    viewport.resetProperties();
    viewport.resetCamera();
    viewport.render();
  }

  toggleCine(framesPerSecond: number): void {
    const slot = this.activeSlot();
    if (!slot.series || slot.series.imageIds.length < 2) return;
    if (slot.playing) {
      this.stopCine(slot);
    } else {
      toolUtilities.cine.playClip(slot.element, { framesPerSecond, loop: true });
      slot.playing = true;
    }
    this.changed();
  }

  private stopCine(slot: Slot): void {
    if (slot.playing) {
      toolUtilities.cine.stopClip(slot.element);
      slot.playing = false;
    }
  }

  /** Overlay text and data attributes (read by people and by tests). */
  private describe(slot: Slot): void {
    const viewport = this.viewport(slot);
    if (!viewport || !slot.series) return;
    const index = viewport.getCurrentImageIdIndex();
    const total = viewport.getImageIds().length;
    const { voiRange: range, invert } = viewport.getProperties() as Types.ViewportProperties;
    const lines = [`Image ${index + 1} / ${total}`];
    if (range) {
      const width = range.upper - range.lower;
      const center = range.lower + width / 2;
      lines.push(`W ${Math.round(width)} L ${Math.round(center)}`);
      slot.element.dataset.window = `${Math.round(width)},${Math.round(center)}`;
    }
    if (invert) lines.push("Inverted");
    slot.overlay.textContent = lines.join("\n");
    slot.element.dataset.imageIndex = String(index);
    slot.element.dataset.rendered = "true";
    if (slot === this.activeSlot()) this.changed();
  }
}
