// "Export CSV" of what a table shows: its visible columns (titles as the header) and its rows,
// RFC 4180 quoting, UTF-8 with a BOM so spreadsheet programs read Chinese text right.
import { saveBlob } from "./api";

export interface CsvColumn {
  title: string;
  value: (row: any) => unknown;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(columns: CsvColumn[], rows: any[]): string {
  const lines = [columns.map((c) => cell(c.title)).join(",")];
  for (const row of rows) lines.push(columns.map((c) => cell(c.value(row))).join(","));
  return lines.join("\r\n") + "\r\n";
}

export function exportCsv(name: string, columns: CsvColumn[], rows: any[]) {
  const blob = new Blob(["\uFEFF", toCsv(columns, rows)], { type: "text/csv;charset=utf-8" });
  saveBlob(blob, `${name}.csv`);
}
