// Display helpers: amounts (fen → yuan), times (UTC from the API → Asia/Shanghai wall time).
import dayjs from "dayjs";
import utc from "dayjs/plugin/utc";
import timezone from "dayjs/plugin/timezone";

dayjs.extend(utc);
dayjs.extend(timezone);

export const ZONE = "Asia/Shanghai";

/** An RFC 3339 UTC time as `YYYY-MM-DD HH:mm:ss` in Asia/Shanghai; empty for none. */
export function time(value: string | null | undefined): string {
  return value ? dayjs(value).tz(ZONE).format("YYYY-MM-DD HH:mm:ss") : "";
}

/** Fen (integer) as a yuan string with two decimals. */
export function yuan(fen: number | null | undefined): string {
  if (fen === null || fen === undefined || Number.isNaN(fen)) return "";
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(Math.trunc(fen));
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

/** A yuan string ("12.30") as integer fen, or null when it is not one. */
export function fenOf(text: string): number | null {
  const m = /^(\d{1,12})(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

/** A yyyyMMdd day (Asia/Shanghai) for a dayjs value. */
export function day(d: dayjs.Dayjs): string {
  return d.tz(ZONE).format("YYYYMMDD");
}

export { dayjs };
