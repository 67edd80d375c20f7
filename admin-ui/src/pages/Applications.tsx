// The review queue: applications waiting (P), approve or reject with a reason; the result is
// notified to the applicant by the server.
import { Button, Form, Input, Modal, Select, Space, Typography } from "antd";
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { get, post } from "../api";
import { DataTable, offsetPager } from "../components/DataTable";
import { time } from "../format";
import { useAction } from "../components/useAction";
import { useI18n } from "../i18n";

export function Applications() {
  const { t } = useI18n();
  const [status, setStatus] = useState<string | undefined>("P");
  const [generation, setGeneration] = useState(0);
  const [rejecting, setRejecting] = useState<string | null>(null);
  const load = useMemo(
    () =>
      offsetPager(async (offset, limit) => {
        const d = await get("/admin/api/applications", { status, offset, limit });
        return { rows: d.applications, total: d.total };
      }),
    [status],
  );
  const act = useAction(() => setGeneration((g) => g + 1));
  return (
    <div data-testid="page-applications">
      <Typography.Title level={4}>{t("reviewQueue")}</Typography.Title>
      <DataTable
        name="applications"
        rowKey="apply_no"
        load={load}
        reloadKey={`${status}-${generation}`}
        extra={<Select allowClear placeholder={t("status")} style={{ width: 120 }} value={status} onChange={setStatus}
          options={["P", "Y", "N", "F"].map((v) => ({ value: v, label: v }))} data-testid="applications-status" />}
        columns={[
          { title: "apply_no", dataIndex: "apply_no" },
          { title: "mer_id", dataIndex: "mer_id", render: (v) => <Link to={`/merchants/${v}`}>{v}</Link> },
          { title: t("name"), dataIndex: ["details", "reg_name"] },
          { title: "sys_id", dataIndex: "sys_id" },
          { title: "kind", dataIndex: "kind" },
          { title: t("status"), dataIndex: "apply_status" },
          { title: t("reason"), dataIndex: "reason" },
          { title: t("createdAt"), dataIndex: "created_at", render: time },
          {
            title: t("actions"), key: "actions",
            render: (_, a: any) => a.apply_status === "P" && (
              <Space>
                <Button size="small" type="primary" data-testid={`approve-${a.apply_no}`}
                  onClick={() => act(() => post(`/admin/api/applications/${a.apply_no}/approve`))}>{t("approve")}</Button>
                <Button size="small" danger data-testid={`reject-${a.apply_no}`} onClick={() => setRejecting(a.apply_no)}>{t("reject")}</Button>
              </Space>
            ),
          },
        ]}
      />
      <Modal open={!!rejecting} title={t("reject")} onCancel={() => setRejecting(null)} footer={null} destroyOnClose>
        <Form onFinish={(v) => act(async () => { await post(`/admin/api/applications/${rejecting}/reject`, { reason: v.reason }); setRejecting(null); })}>
          <Form.Item name="reason" label={t("reason")} rules={[{ required: true, max: 256 }]}><Input /></Form.Item>
          <Button type="primary" danger htmlType="submit">{t("confirm")}</Button>
        </Form>
      </Modal>
    </div>
  );
}
