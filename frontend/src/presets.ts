// Window presets for CT in Hounsfield units: [label, width, center].
export const CT_PRESETS: [string, number, number][] = [
  ["Soft tissue", 400, 40],
  ["Lung", 1500, -600],
  ["Bone", 2000, 500],
  ["Brain", 80, 40],
  ["Liver", 150, 60],
  ["Mediastinum", 350, 50],
];

export function voiRange(width: number, center: number): { lower: number; upper: number } {
  return { lower: center - width / 2, upper: center + width / 2 };
}
