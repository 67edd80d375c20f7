// Refunds, paged on the server (GET /admin/api/refunds), with the same date/merchant/state filters.
import { Button, DatePicker, Form, Input, Select, Space, Typography } from "antd";
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { get } from "../api";
import { DataTable } from "../components/DataTable";
import { time } from "../format";
import { useI18n } from "../i18n";
import { listQuery, rowsOf } from "./Trades";

export function Refunds() {
  const { t } = useI18n();
  const [filters, setFilters] = useState<Record<string, string>>({});
  const [form] = Form.useForm();
  const load = useMemo(
    () => async (page: number, size: number) => {
      const d = await get("/admin/api/refunds", { ...filters, page, size });
      return { rows: rowsOf(d, "refunds"), total: d.total };
    },
    [filters],
  );
  return (
    <div data-testid="page-refunds">
      <Typography.Title level={4}>{t("refunds")}</Typography.Title>
      <Form form={form} layout="inline" onFinish={(v) => setFilters(listQuery(v))} style={{ marginBottom: 12, rowGap: 8 }}>
        <Form.Item name="dates"><DatePicker.RangePicker /></Form.Item>
        <Form.Item name="mer_id"><Input placeholder="mer_id" allowClear /></Form.Item>
        <Form.Item name="status"><Select placeholder={t("status")} allowClear style={{ width: 100 }} options={["P", "S", "F"].map((s) => ({ value: s, label: s }))} /></Form.Item>
        <Form.Item name="nkp_seq_id"><Input placeholder="nkp_seq_id" allowClear /></Form.Item>
        <Form.Item name="org_nkp_seq_id"><Input placeholder="org_nkp_seq_id" allowClear /></Form.Item>
        <Space>
          <Button type="primary" htmlType="submit">{t("search")}</Button>
          <Button onClick={() => { form.resetFields(); setFilters({}); }}>{t("reset")}</Button>
        </Space>
      </Form>
      <DataTable
        name="refunds"
        rowKey="nkp_seq_id"
        load={load}
        reloadKey={JSON.stringify(filters)}
        columns={[
          { title: "nkp_seq_id", dataIndex: "nkp_seq_id" },
          { title: "org_nkp_seq_id", dataIndex: "org_nkp_seq_id", render: (v) => v && <Link to={`/trades/${v}`}>{v}</Link> },
          { title: "mer_id", dataIndex: "mer_id" },
          { title: "req_seq_id", dataIndex: "req_seq_id" },
          { title: t("status"), dataIndex: "status" },
          { title: "ord_amt", dataIndex: "ord_amt" },
          { title: "fee_amt", dataIndex: "fee_amt" },
          { title: "party_refund_id", dataIndex: "party_refund_id" },
          { title: t("createdAt"), dataIndex: "created_at", render: time },
        ]}
      />
    </div>
  );
}
