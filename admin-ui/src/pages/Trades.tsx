// Trades: filters (dates in Asia/Shanghai, merchant, state, type, channel, ids), paged on the
// server (GET /admin/api/trades), export of the page shown, and the server's own CSV of every
// match (format=csv).
import { Button, DatePicker, Form, Input, Select, Space, Typography } from "antd";
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { download, get, withQuery } from "../api";
import { DataTable } from "../components/DataTable";
import { time } from "../format";
import { useI18n } from "../i18n";

export const TRADE_STATES = ["P", "S", "F", "C"];
export const TRADE_TYPES = ["T_JSAPI", "T_MINIAPP", "A_NATIVE"];
export const CHANNELS = ["wechat", "alipay"];

/** Filter form values → the API's query (`from`/`to`: Asia/Shanghai days `yyyyMMdd`, both included). */
export function listQuery(v: Record<string, any>): Record<string, string> {
  const q: Record<string, string> = {};
  const [from, to] = v.dates ?? [];
  if (from) q.from = from.format("YYYYMMDD");
  if (to) q.to = to.format("YYYYMMDD");
  for (const k of ["mer_id", "status", "trade_type", "channel", "nkp_seq_id", "req_seq_id", "party_order_id", "org_nkp_seq_id"]) {
    if (v[k]) q[k] = String(v[k]).trim();
  }
  return q;
}

export function rowsOf(d: any, key: string): any[] {
  return d?.[key] ?? d?.items ?? [];
}

export function Trades() {
  const { t } = useI18n();
  const [filters, setFilters] = useState<Record<string, string>>({});
  const [form] = Form.useForm();
  const load = useMemo(
    () => async (page: number, size: number) => {
      const d = await get("/admin/api/trades", { ...filters, page, size });
      return { rows: rowsOf(d, "trades"), total: d.total };
    },
    [filters],
  );
  return (
    <div data-testid="page-trades">
      <Typography.Title level={4}>{t("trades")}</Typography.Title>
      <Form form={form} layout="inline" onFinish={(v) => setFilters(listQuery(v))} style={{ marginBottom: 12, rowGap: 8 }} data-testid="trade-filters">
        <Form.Item name="dates"><DatePicker.RangePicker /></Form.Item>
        <Form.Item name="mer_id"><Input placeholder="mer_id" allowClear data-testid="filter-mer-id" /></Form.Item>
        <Form.Item name="status"><Select placeholder={t("status")} allowClear style={{ width: 100 }} options={TRADE_STATES.map((s) => ({ value: s, label: s }))} /></Form.Item>
        <Form.Item name="trade_type"><Select placeholder="trade_type" allowClear style={{ width: 130 }} options={TRADE_TYPES.map((s) => ({ value: s, label: s }))} /></Form.Item>
        <Form.Item name="channel"><Select placeholder="channel" allowClear style={{ width: 110 }} options={CHANNELS.map((s) => ({ value: s, label: s }))} /></Form.Item>
        <Form.Item name="nkp_seq_id"><Input placeholder="nkp_seq_id" allowClear data-testid="filter-nkp-seq-id" /></Form.Item>
        <Form.Item name="req_seq_id"><Input placeholder="req_seq_id" allowClear /></Form.Item>
        <Form.Item name="party_order_id"><Input placeholder="party_order_id" allowClear /></Form.Item>
        <Space>
          <Button type="primary" htmlType="submit" data-testid="trade-search">{t("search")}</Button>
          <Button onClick={() => { form.resetFields(); setFilters({}); }}>{t("reset")}</Button>
        </Space>
      </Form>
      <DataTable
        name="trades"
        rowKey="nkp_seq_id"
        load={load}
        reloadKey={JSON.stringify(filters)}
        extra={<Button onClick={() => download(withQuery("/admin/api/trades", { ...filters, format: "csv" }), "trades.csv")}>CSV ({t("search")})</Button>}
        columns={[
          { title: "nkp_seq_id", dataIndex: "nkp_seq_id", render: (v) => <Link to={`/trades/${v}`}>{v}</Link> },
          { title: "mer_id", dataIndex: "mer_id" },
          { title: "req_seq_id", dataIndex: "req_seq_id" },
          { title: "trade_type", dataIndex: "trade_type" },
          { title: "channel", dataIndex: "channel" },
          { title: t("status"), dataIndex: "status" },
          { title: "trans_amt", dataIndex: "trans_amt" },
          { title: "refunded_amt", dataIndex: "refunded_amt" },
          { title: "party_order_id", dataIndex: "party_order_id" },
          { title: t("createdAt"), dataIndex: "created_at", render: time },
        ]}
      />
    </div>
  );
}
