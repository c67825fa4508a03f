// The side panels: series (with server-made thumbnails) and metadata.
// Patient data only ever goes into the page as textContent, never as HTML.

import { type Dataset, KEY_ATTRIBUTES, display } from "./dicomjson";
import type { SeriesInfo } from "./dicomweb";

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = "", text = ""): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

export function renderSeriesPanel(panel: HTMLElement, series: SeriesInfo[], onPick: (uid: string) => void): void {
  panel.replaceChildren(el("h2", "", "Series"));
  for (const info of series) {
    const button = el("button", "series-item");
    button.type = "button";
    button.dataset.seriesUid = info.uid;
    const thumb = el("img", "series-thumb");
    thumb.alt = "";
    thumb.loading = "lazy";
    thumb.src = info.thumbnailUrl;
    // No thumbnail service (yet), or no pixels: a plain box instead.
    thumb.addEventListener("error", () => thumb.replaceWith(el("span", "series-thumb missing", info.modality || "?")), { once: true });
    const label = el("span", "series-label", `#${info.number || "–"} ${info.modality} ${info.description}`.trim());
    const count = el("span", "series-count", `${info.instances} image${info.instances === 1 ? "" : "s"}`);
    button.append(thumb, label, count);
    button.addEventListener("click", () => onPick(info.uid));
    panel.append(button);
  }
}

export function markSeries(panel: HTMLElement, uid: string | null): void {
  panel.querySelectorAll<HTMLElement>(".series-item").forEach((item) => item.classList.toggle("current", item.dataset.seriesUid === uid));
}

export function renderMetadata(panel: HTMLElement, ds: Dataset | undefined): void {
  panel.replaceChildren(el("h2", "", "Metadata"));
  if (!ds) {
    panel.append(el("p", "muted", "No image."));
    return;
  }
  const table = el("table", "metadata");
  const shown = new Set<string>();
  for (const [label, tag] of KEY_ATTRIBUTES) {
    if (!ds[tag]) continue;
    shown.add(tag);
    table.append(row(label, display(ds[tag])));
  }
  panel.append(table);

  const all = el("details");
  all.append(el("summary", "", "All attributes"));
  const full = el("table", "metadata");
  for (const tag of Object.keys(ds).sort()) {
    if (shown.has(tag)) continue;
    const attribute = ds[tag];
    full.append(row(`(${tag.slice(0, 4)},${tag.slice(4)}) ${attribute.vr}`, display(attribute)));
  }
  all.append(full);
  panel.append(all);
}

function row(label: string, value: string): HTMLTableRowElement {
  const tr = el("tr");
  tr.append(el("th", "", label), el("td", "", value.length > 200 ? `${value.slice(0, 200)}…` : value));
  return tr;
}
