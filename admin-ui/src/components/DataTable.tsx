// A table whose rows come a page at a time from the server, with "export CSV" of the page it
// shows. `load(page, size)` answers the rows and either a `total` or whether `more` follow
// (cursor-paged endpoints); `cursorPager` turns a cursor endpoint into such a loader.
import { Button, Space, Table, Typography } from "antd";
import type { ColumnsType } from "antd/es/table";
import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { ApiError } from "../api";
import { exportCsv } from "../csv";
import { useI18n } from "../i18n";

export interface Page<T> {
  rows: T[];
  total?: number;
  more?: boolean;
}

export type Loader<T> = (page: number, size: number) => Promise<Page<T>>;

/** A column; `csv` says what "export CSV" writes for it (default: the dataIndex value),
 *  `false` leaves it out. */
export type Column<T = any> = ColumnsType<T>[number] & { csv?: ((row: T) => unknown) | false; dataIndex?: any };

export interface DataTableProps<T> {
  /** Names the table for tests (`data-testid`) and the exported file. */
  name: string;
  columns: Column<T>[];
  load: Loader<T>;
  rowKey: string | ((row: T) => string);
  /** Change it to reload from the first page (filters changed, an action done). */
  reloadKey?: unknown;
  pageSize?: number;
  extra?: ReactNode;
}

function columnValue(col: any, row: any): unknown {
  const index = col.dataIndex;
  if (col.csv) return col.csv(row);
  if (Array.isArray(index)) return index.reduce((v: any, k: string) => v?.[k], row);
  return index === undefined ? undefined : row[index];
}

export function DataTable<T extends object = any>(props: DataTableProps<T>) {
  const { t } = useI18n();
  const size0 = props.pageSize ?? 20;
  const [page, setPage] = useState(1);
  const [size, setSize] = useState(size0);
  const [data, setData] = useState<Page<T>>({ rows: [] });
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const generation = useRef(0);

  const fetchPage = useCallback(
    async (p: number, s: number) => {
      const mine = ++generation.current;
      setLoading(true);
      setError(null);
      try {
        const result = await props.load(p, s);
        if (mine === generation.current) setData(result);
      } catch (e) {
        if (mine === generation.current) {
          setData({ rows: [] });
          setError(e instanceof ApiError && e.status === 404 ? t("notAvailable") : String((e as Error).message));
        }
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [props.load],
  );

  useEffect(() => {
    setPage(1);
    fetchPage(1, size);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.reloadKey]);

  const total = data.total ?? (page - 1) * size + data.rows.length + (data.more ? 1 : 0);
  const visible = props.columns.filter((c: any) => c.key !== "actions" && c.csv !== false);
  const doExport = () =>
    exportCsv(
      `${props.name}-page${page}`,
      visible.map((c: any) => ({ title: String(c.title ?? c.key ?? ""), value: (row) => columnValue(c, row) })),
      data.rows,
    );

  return (
    <div data-testid={`table-${props.name}`}>
      <Space style={{ marginBottom: 12 }} wrap>
        {props.extra}
        <Button onClick={() => fetchPage(page, size)}>{t("refresh")}</Button>
        <Button onClick={doExport} data-testid={`export-${props.name}`} disabled={!data.rows.length}>
          {t("exportCsv")}
        </Button>
      </Space>
      {error && (
        <Typography.Paragraph type="danger" data-testid={`error-${props.name}`}>
          {error}
        </Typography.Paragraph>
      )}
      <Table<T>
        size="small"
        rowKey={props.rowKey as any}
        columns={props.columns as ColumnsType<T>}
        dataSource={data.rows}
        loading={loading}
        scroll={{ x: true }}
        pagination={{
          current: page,
          pageSize: size,
          total,
          showSizeChanger: true,
          pageSizeOptions: [10, 20, 50, 100],
          showTotal: data.total !== undefined ? (n) => t("total", { n }) : undefined,
          onChange: (p, s) => {
            const next = s !== size ? 1 : p;
            setPage(next);
            setSize(s);
            fetchPage(next, s);
          },
        }}
      />
    </div>
  );
}

/**
 * A loader over a cursor-paged endpoint: `fetch(cursor, size)` answers rows and the cursor of
 * the next page (null at the end). Cursors seen are remembered, so any page already reached
 * can be shown again; a jump past them walks forward.
 */
export function cursorPager<T = any, C = any>(
  fetch: (cursor: C | null, size: number) => Promise<{ rows: T[]; next: C | null }>,
): Loader<T> {
  const cursors: (C | null)[] = [null];
  let lastSize = 0;
  return async (page, size) => {
    if (size !== lastSize) {
      cursors.length = 1;
      lastSize = size;
    }
    let result = { rows: [] as T[], next: null as C | null };
    for (let p = Math.min(page, cursors.length); p <= page; p++) {
      result = await fetch(cursors[p - 1], size);
      cursors[p] = result.next;
      if (result.next === null) break;
    }
    return { rows: result.rows, more: result.next !== null };
  };
}

/** A loader over an endpoint that answers at most `limit` rows and has no offset: it asks for
 *  everything up to the page shown and keeps that page. */
export function limitPager<T = any>(fetch: (limit: number) => Promise<T[]>, max = 500): Loader<T> {
  return async (page, size) => {
    const want = Math.min(page * size + 1, max);
    const rows = await fetch(want);
    const start = (page - 1) * size;
    return { rows: rows.slice(start, start + size), more: rows.length > page * size };
  };
}

/** A loader over an endpoint that pages on the server with `offset` and `limit` and answers
 *  the count of every match as `total` (merchants, applications, statements, channel
 *  accounts): `fetch(offset, limit)` answers that page's rows and the total. */
export function offsetPager<T = any>(
  fetch: (offset: number, limit: number) => Promise<{ rows: T[]; total: number }>,
): Loader<T> {
  return async (page, size) => fetch((page - 1) * size, size);
}
