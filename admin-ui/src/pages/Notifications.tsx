// Merchant notifications: failing (pending, retried) and exhausted (dead) first, by merchant or
// order; re-send one, or every delivered/dead one of a merchant in a time range.
import { App, Button, DatePicker, Form, Input, Modal, Select, Space, Tag, Typography } from "antd";
import { useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { get, post } from "../api";
import { useAuth } from "../auth";
import { cursorPager, DataTable } from "../components/DataTable";
import { dayjs, time, ZONE } from "../format";
import { useI18n } from "../i18n";

const COLORS: Record<string, string> = { pending: "orange", delivered: "green", dead: "red" };

export function Notifications() {
  const { t } = useI18n();
  const { can } = useAuth();
  const { message } = App.useApp();
  // Deep links set the first filters: /notifications?status=dead&mer_id=…&nkp_seq_id=…
  const [params] = useSearchParams();
  const [status, setStatus] = useState<string | undefined>(params.has("status") ? params.get("status") || undefined : "dead");
  const [merId, setMerId] = useState(params.get("mer_id") ?? "");
  const [seqId, setSeqId] = useState(params.get("nkp_seq_id") ?? "");
  const [generation, setGeneration] = useState(0);
  const [rangeOpen, setRangeOpen] = useState(false);
  const key = JSON.stringify({ status, merId, seqId, generation });
  const load = useMemo(
    () =>
      cursorPager<any, number>(async (before, size) => {
        const d = await get("/admin/api/notifications", { status, mer_id: merId.trim(), nkp_seq_id: seqId.trim(), before_id: before, limit: size });
        return { rows: d.items, next: d.next_before_id ?? null };
      }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [key],
  );
  const resend = async (id: number) => {
    try {
      const r = await post(`/admin/api/notifications/${id}/resend`);
      message.success(`${t("done")}: #${r.notification.id}`);
      setGeneration((g) => g + 1);
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  return (
    <div data-testid="page-notifications">
      <Typography.Title level={4}>{t("notifications")}</Typography.Title>
      <DataTable
        name="notifications"
        rowKey="id"
        load={load}
        reloadKey={key}
        extra={
          <>
            <Select allowClear placeholder={t("status")} value={status} onChange={setStatus} style={{ width: 130 }} data-testid="notification-status"
              options={["pending", "dead", "delivered"].map((s) => ({ value: s, label: s }))} />
            <Input placeholder="mer_id" allowClear defaultValue={merId} style={{ width: 180 }} onBlur={(e) => setMerId(e.target.value)} onPressEnter={(e) => setMerId((e.target as HTMLInputElement).value)} />
            <Input placeholder="nkp_seq_id" allowClear defaultValue={seqId} style={{ width: 220 }} onBlur={(e) => setSeqId(e.target.value)} onPressEnter={(e) => setSeqId((e.target as HTMLInputElement).value)} data-testid="notification-seq-id" />
            {can("notifications.resend") && <Button onClick={() => setRangeOpen(true)}>{t("resendRange")}</Button>}
          </>
        }
        columns={[
          { title: "id", dataIndex: "id", render: (v) => <Link to={`/notifications/${v}`}>#{v}</Link> },
          { title: "mer_id", dataIndex: "mer_id" },
          { title: "type", dataIndex: "notify_type" },
          { title: "nkp_seq_id", dataIndex: "nkp_seq_id" },
          { title: t("status"), dataIndex: "status", render: (v) => <Tag color={COLORS[v]}>{v}</Tag> },
          { title: t("attempts"), dataIndex: "attempt_count" },
          { title: "next", dataIndex: "next_attempt_at", render: time },
          { title: "notify_url", dataIndex: "notify_url", ellipsis: true },
          { title: t("createdAt"), dataIndex: "created_at", render: time },
          {
            title: t("actions"), key: "actions",
            render: (_, n: any) => can("notifications.resend") && n.status !== "pending" && (
              <Button size="small" onClick={() => resend(n.id)} data-testid={`resend-${n.id}`}>{t("resend")}</Button>
            ),
          },
        ]}
      />
      <Modal open={rangeOpen} title={t("resendRange")} onCancel={() => setRangeOpen(false)} footer={null} destroyOnClose>
        <Form layout="vertical" onFinish={async (v) => {
          try {
            const [from, to] = v.range;
            const r = await post("/admin/api/notifications/resend", {
              mer_id: v.mer_id.trim(),
              from: dayjs.tz(from.format("YYYY-MM-DD HH:mm:ss"), ZONE).toISOString(),
              to: dayjs.tz(to.format("YYYY-MM-DD HH:mm:ss"), ZONE).toISOString(),
            });
            message.success(`${t("done")}: ${r.resent.length} (skipped pending ${r.skipped_pending.length ?? r.skipped_pending})`);
            setRangeOpen(false);
            setGeneration((g) => g + 1);
          } catch (e) {
            message.error((e as Error).message);
          }
        }}>
          <Form.Item name="mer_id" label="mer_id" rules={[{ required: true }]}><Input /></Form.Item>
          <Form.Item name="range" label={`${t("dateFrom")} - ${t("dateTo")} (Asia/Shanghai)`} rules={[{ required: true }]}><DatePicker.RangePicker showTime /></Form.Item>
          <Space><Button type="primary" htmlType="submit">{t("confirm")}</Button></Space>
        </Form>
      </Modal>
    </div>
  );
}
