// A DataTable whose columns are the scalar fields of the rows the server answered: for
// listings whose every field is worth showing as it is (audit rows, keys, tokens).
import { useMemo, useState } from "react";
import type { ColumnsType } from "antd/es/table";
import { time } from "../format";
import { DataTable, type Loader } from "./DataTable";

export function AutoTable({ name, load, rowKey, reloadKey, extra, actions }: {
  name: string;
  load: Loader<any>;
  rowKey: string;
  reloadKey?: unknown;
  extra?: React.ReactNode;
  actions?: ColumnsType<any>[number];
}) {
  const [fields, setFields] = useState<string[]>([]);
  const wrapped = useMemo<Loader<any>>(
    () => async (page, size) => {
      const result = await load(page, size);
      const seen = new Set<string>();
      for (const row of result.rows) for (const [k, v] of Object.entries(row)) if (typeof v !== "object" || v === null) seen.add(k);
      setFields((old) => (old.join() === [...seen].join() ? old : [...seen]));
      return result;
    },
    [load],
  );
  const columns: ColumnsType<any> = fields.map((f) => ({
    title: f,
    dataIndex: f,
    render: f.endsWith("_at") ? time : (v: unknown) => (typeof v === "boolean" ? (v ? "✓" : "") : (v as any)),
  }));
  if (actions) columns.push(actions);
  return <DataTable name={name} rowKey={rowKey} load={wrapped} reloadKey={reloadKey} extra={extra} columns={columns} />;
}
