// The audit log: every write with who, what, before → after, address and time; paged on the
// server (GET /admin/api/audit), with the server's CSV of every match.
import { App, Button, DatePicker, Input, Typography } from "antd";
import { useMemo, useState } from "react";
import { download, get, withQuery } from "../api";
import { DataTable } from "../components/DataTable";
import { time } from "../format";
import { useI18n } from "../i18n";

export function Audit() {
  const { t } = useI18n();
  const { message } = App.useApp();
  const [filters, setFilters] = useState<Record<string, string | undefined>>({});
  const set = (k: string, v: string | undefined) => setFilters((f) => ({ ...f, [k]: v?.trim() || undefined }));
  const load = useMemo(
    () => async (page: number, size: number) => {
      const d = await get("/admin/api/audit", { ...filters, page, size });
      return { rows: d.items, total: d.total };
    },
    [filters],
  );
  return (
    <div data-testid="page-audit">
      <Typography.Title level={4}>{t("audit")}</Typography.Title>
      <DataTable name="audit" rowKey="id" load={load} reloadKey={JSON.stringify(filters)}
        extra={<>
          <Input placeholder="actor (user:alice)" allowClear style={{ width: 180 }} onBlur={(e) => set("actor", e.target.value)} onPressEnter={(e) => set("actor", (e.target as HTMLInputElement).value)} />
          <Input placeholder="action (trade.refund)" allowClear style={{ width: 200 }} onBlur={(e) => set("action", e.target.value)} onPressEnter={(e) => set("action", (e.target as HTMLInputElement).value)} />
          <DatePicker.RangePicker onChange={(r) => setFilters((f) => ({ ...f, from: r?.[0]?.format("YYYYMMDD"), to: r?.[1]?.format("YYYYMMDD") }))} />
          <Button onClick={() => download(withQuery("/admin/api/audit", { ...filters, format: "csv" }), "audit.csv").catch((e) => message.error(e.message))}>CSV</Button>
        </>}
        columns={[
          { title: "id", dataIndex: "id" },
          { title: "at", dataIndex: "at", render: time },
          { title: "actor", dataIndex: "actor" },
          { title: "action", dataIndex: "action" },
          { title: "target", dataIndex: "target" },
          { title: "address", dataIndex: "address" },
          { title: "detail", dataIndex: "detail", ellipsis: true, render: (v) => <Typography.Text code>{JSON.stringify(v)}</Typography.Text>, csv: (r: any) => JSON.stringify(r.detail) },
        ]} />
    </div>
  );
}
