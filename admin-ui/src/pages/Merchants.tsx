// Merchants: filters (review state, kind, service provider) paged on the server, oldest first
// (GET /admin/api/merchants with offset/limit, `total`); the search (name, mer_id) has no
// server filter, so while it is set the first 500 matches of the filters are searched here.
import { Input, Select, Space, Tag, Typography } from "antd";
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { get } from "../api";
import { DataTable, limitPager, offsetPager } from "../components/DataTable";
import { time } from "../format";
import { useI18n } from "../i18n";

export function Merchants() {
  const { t } = useI18n();
  const [q, setQ] = useState("");
  const [status, setStatus] = useState<string | undefined>();
  const [kind, setKind] = useState<string | undefined>();
  const [sysId, setSysId] = useState("");
  const filters = { q, status, kind, sysId };
  const load = useMemo(
    () =>
      q.trim() === ""
        ? offsetPager(async (offset, limit) => {
            const d = await get("/admin/api/merchants", { status, kind, sys_id: sysId.trim(), offset, limit });
            return { rows: d.merchants, total: d.total };
          })
        : limitPager(async (limit) => {
            const d = await get("/admin/api/merchants", { status, kind, sys_id: sysId.trim(), limit: 500 });
            const needle = q.trim().toLowerCase();
            const rows = (d.merchants as any[]).filter(
              (m) => m.mer_id.includes(needle) || `${m.name} ${m.short_name ?? ""}`.toLowerCase().includes(needle),
            );
            return rows.slice(0, limit);
          }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [JSON.stringify(filters)],
  );
  return (
    <div data-testid="page-merchants">
      <Typography.Title level={4}>{t("merchantList")}</Typography.Title>
      <DataTable
        name="merchants"
        rowKey="mer_id"
        load={load}
        reloadKey={JSON.stringify(filters)}
        extra={
          <>
            <Input.Search placeholder={`${t("search")}: mer_id / ${t("name")}`} allowClear onSearch={setQ} style={{ width: 260 }} data-testid="merchant-search" />
            <Select allowClear placeholder={t("status")} style={{ width: 140 }} value={status} onChange={setStatus}
              options={["P", "Y", "N", "F", "frozen"].map((v) => ({ value: v, label: v }))} />
            <Select allowClear placeholder="kind" style={{ width: 100 }} value={kind} onChange={setKind}
              options={["ent", "indv"].map((v) => ({ value: v, label: v }))} />
            <Input placeholder="sys_id" allowClear style={{ width: 180 }} onBlur={(e) => setSysId(e.target.value)} onPressEnter={(e) => setSysId((e.target as HTMLInputElement).value)} />
          </>
        }
        columns={[
          { title: "mer_id", dataIndex: "mer_id", render: (v) => <Link to={`/merchants/${v}`}>{v}</Link> },
          { title: t("name"), dataIndex: "name" },
          { title: "sys_id", dataIndex: "sys_id" },
          { title: "kind", dataIndex: "kind" },
          { title: "apply_status", dataIndex: "apply_status" },
          { title: t("status"), dataIndex: "status", render: (v, r: any) => <Space>{v}{r.frozen && <Tag color="red">{t("frozen")}</Tag>}</Space>, csv: (r: any) => (r.frozen ? `${r.status} frozen` : r.status) },
          { title: t("createdAt"), dataIndex: "created_at", render: time },
        ]}
      />
    </div>
  );
}
