// Reconciliation with the channels' bills: runs (start one for an account and day), the
// differences found (filter, resolve with a note, the server's CSV of every match) and open
// incidents (resolve).
import { App, Button, DatePicker, Form, Input, Modal, Select, Tabs, Tag, Typography } from "antd";
import { useEffect, useMemo, useState } from "react";
import { download, get, post, withQuery } from "../api";
import { useAuth } from "../auth";
import { cursorPager, DataTable, limitPager } from "../components/DataTable";
import { time, yuan } from "../format";
import { useAction } from "../components/useAction";
import { useI18n } from "../i18n";

const KINDS = ["missing_here", "missing_there", "amount_differs", "state_differs", "fee_differs"];

export function Reconciliation() {
  const { t } = useI18n();
  const { can } = useAuth();
  const { message } = App.useApp();
  const [generation, setGeneration] = useState(0);
  const [accounts, setAccounts] = useState<any[]>([]);
  const [runOpen, setRunOpen] = useState(false);
  const [resolving, setResolving] = useState<{ what: "difference" | "incident"; id: number } | null>(null);
  const [diffFilter, setDiffFilter] = useState<Record<string, string | undefined>>({ state: "open" });
  useEffect(() => {
    get("/admin/api/channel-accounts").then((d) => setAccounts(d.items)).catch(() => {});
  }, []);
  const runs = useMemo(
    () => cursorPager<any, number>(async (before, size) => {
      const d = await get("/admin/api/reconciliation/runs", { before_id: before, limit: size });
      return { rows: d.runs, next: d.runs.length === size ? d.runs[d.runs.length - 1].id : null };
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [generation],
  );
  const diffs = useMemo(
    () => cursorPager<any, number>(async (after, size) => {
      const d = await get("/admin/api/reconciliation/differences", { ...diffFilter, after_id: after, limit: size });
      return { rows: d.differences, next: d.differences.length === size ? d.differences[d.differences.length - 1].id : null };
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [generation, JSON.stringify(diffFilter)],
  );
  const incidents = useMemo(
    () => limitPager(async (limit) => (await get("/admin/api/reconciliation/incidents", { limit })).incidents),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [generation],
  );
  const act = useAction(() => setGeneration((g) => g + 1));
  const write = can("reconciliation.write");
  // Starting a run is an operator's (a run may refund); finance only resolves.
  const run = can("reconciliation.run");
  return (
    <div data-testid="page-reconciliation">
      <Typography.Title level={4}>{t("reconciliation")}</Typography.Title>
      <Tabs items={[
        {
          key: "runs", label: t("runs"),
          children: (
            <DataTable name="reconciliation-runs" rowKey="id" load={runs} reloadKey={generation}
              extra={run && <Button type="primary" onClick={() => setRunOpen(true)}>{t("runNow")}</Button>}
              columns={[
                { title: "id", dataIndex: "id" },
                { title: "account", dataIndex: "channel_account_id" },
                { title: "channel", dataIndex: "channel" },
                { title: "date", dataIndex: "date" },
                { title: t("status"), dataIndex: "status", render: (v) => <Tag color={v === "done" ? "green" : v === "failed" ? "red" : "blue"}>{v}</Tag> },
                { title: "bill_rows", dataIndex: "bill_rows" },
                { title: "matched", dataIndex: "matched_rows" },
                { title: "foreign", dataIndex: "foreign_rows" },
                { title: t("differences"), dataIndex: "differences" },
                { title: "healed", dataIndex: "healed" },
                { title: "error", dataIndex: "error" },
                { title: "started", dataIndex: "started_at", render: time },
              ]} />
          ),
        },
        {
          key: "differences", label: t("differences"),
          children: (
            <DataTable name="reconciliation-differences" rowKey="id" load={diffs} reloadKey={`${generation}-${JSON.stringify(diffFilter)}`}
              extra={
                <>
                  <Select allowClear placeholder="state" style={{ width: 110 }} value={diffFilter.state} onChange={(v) => setDiffFilter((f) => ({ ...f, state: v }))}
                    options={["open", "healed", "resolved"].map((s) => ({ value: s, label: s }))} />
                  <Select allowClear placeholder="kind" style={{ width: 160 }} value={diffFilter.kind} onChange={(v) => setDiffFilter((f) => ({ ...f, kind: v }))}
                    options={KINDS.map((s) => ({ value: s, label: s }))} />
                  <DatePicker placeholder="date" onChange={(d) => setDiffFilter((f) => ({ ...f, date: d ? d.format("YYYYMMDD") : undefined }))} />
                  <Button onClick={() => download(withQuery("/admin/api/reconciliation/differences.csv", diffFilter), "differences.csv").catch((e) => message.error(e.message))}>CSV</Button>
                </>
              }
              columns={[
                { title: "id", dataIndex: "id" },
                { title: "run", dataIndex: "run_id" },
                { title: "date", dataIndex: "date" },
                { title: "kind", dataIndex: "kind" },
                { title: "row", dataIndex: "row_kind" },
                { title: "order_no", dataIndex: "order_no" },
                { title: "refund_no", dataIndex: "refund_no" },
                { title: "mer_id", dataIndex: "mer_id" },
                { title: "ours", dataIndex: "our_amount", render: yuan },
                { title: "channel", dataIndex: "channel_amount", render: yuan },
                { title: "state", dataIndex: "state" },
                { title: "heal", dataIndex: "heal_action" },
                { title: t("note"), dataIndex: "note" },
                {
                  title: t("actions"), key: "actions",
                  render: (_, d: any) => write && d.state === "open" && <Button size="small" onClick={() => setResolving({ what: "difference", id: d.id })}>{t("resolve")}</Button>,
                },
              ]} />
          ),
        },
        {
          key: "incidents", label: t("incidents"),
          children: (
            <DataTable name="incidents" rowKey="id" load={incidents} reloadKey={generation}
              columns={[
                { title: "id", dataIndex: "id" },
                { title: "kind", dataIndex: "kind" },
                { title: "nkp_seq_id", dataIndex: "nkp_seq_id" },
                { title: "detail", dataIndex: "detail", ellipsis: true },
                { title: t("createdAt"), dataIndex: "created_at", render: time },
                {
                  title: t("actions"), key: "actions",
                  render: (_, i: any) => write && <Button size="small" onClick={() => setResolving({ what: "incident", id: i.id })}>{t("resolve")}</Button>,
                },
              ]} />
          ),
        },
      ]} />
      <Modal open={runOpen} title={t("runNow")} onCancel={() => setRunOpen(false)} footer={null} destroyOnClose>
        <Form layout="vertical" onFinish={(v) => act(async () => {
          await post("/admin/api/reconciliation/runs", { channel_account_id: v.account, date: v.date.format("YYYYMMDD") });
          setRunOpen(false);
        })}>
          <Form.Item name="account" label={t("channelAccounts")} rules={[{ required: true }]}>
            <Select options={accounts.map((a) => ({ value: a.id, label: `${a.id} ${a.channel} ${a.name}` }))} />
          </Form.Item>
          <Form.Item name="date" label="date (Asia/Shanghai)" rules={[{ required: true }]}><DatePicker /></Form.Item>
          <Button type="primary" htmlType="submit">{t("confirm")}</Button>
        </Form>
      </Modal>
      <Modal open={!!resolving} title={t("resolve")} onCancel={() => setResolving(null)} footer={null} destroyOnClose>
        <Form layout="vertical" onFinish={(v) => act(async () => {
          const path = resolving!.what === "difference" ? "differences" : "incidents";
          await post(`/admin/api/reconciliation/${path}/${resolving!.id}/resolve`, { note: v.note });
          setResolving(null);
        })}>
          <Form.Item name="note" label={t("note")} rules={[{ required: true }]}><Input.TextArea rows={3} /></Form.Item>
          <Button type="primary" htmlType="submit">{t("confirm")}</Button>
        </Form>
      </Modal>
    </div>
  );
}
