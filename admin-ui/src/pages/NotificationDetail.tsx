// One notification: what was sent, every attempt (status, duration, error, the answer's start),
// earlier/later re-sends of the same subject, and re-send.
import { App, Button, Card, Descriptions, Table, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { get, post } from "../api";
import { useAuth } from "../auth";
import { time } from "../format";
import { useI18n } from "../i18n";

export function NotificationDetail() {
  const { id = "" } = useParams();
  return <NotificationPage key={id} id={id} />;
}

function NotificationPage({ id }: { id: string }) {
  const { t } = useI18n();
  const { can } = useAuth();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const [d, setD] = useState<any>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(() => get(`/admin/api/notifications/${id}`).then(setD).catch((e) => setError(e.message)), [id]);
  useEffect(() => {
    reload();
  }, [reload]);
  if (error) return <Typography.Text type="danger">{error}</Typography.Text>;
  if (!d) return <Typography.Text>{t("loading")}</Typography.Text>;
  const n = d.notification;
  return (
    <div data-testid="page-notification-detail">
      <Typography.Title level={4}>{t("notifications")} #{n.id}</Typography.Title>
      <Card extra={can("notifications.resend") && n.status !== "pending" && (
        <Button type="primary" data-testid="resend-one" onClick={async () => {
          try {
            const r = await post(`/admin/api/notifications/${n.id}/resend`);
            message.success(`${t("done")}: #${r.notification.id}`);
            navigate(`/notifications/${r.notification.id}`);
          } catch (e) {
            message.error((e as Error).message);
          }
        }}>{t("resend")}</Button>
      )}>
        <Descriptions size="small" bordered column={2}>
          <Descriptions.Item label="mer_id">{n.mer_id}</Descriptions.Item>
          <Descriptions.Item label="type">{n.notify_type}</Descriptions.Item>
          <Descriptions.Item label="nkp_seq_id"><Link to={`/trades/${n.nkp_seq_id}`}>{n.nkp_seq_id}</Link></Descriptions.Item>
          <Descriptions.Item label={t("status")}><span data-testid="notification-status-value">{n.status}</span></Descriptions.Item>
          <Descriptions.Item label="notify_url" span={2}>{n.notify_url}</Descriptions.Item>
          <Descriptions.Item label="resp_data" span={2}><Typography.Text code style={{ wordBreak: "break-all" }}>{n.resp_data}</Typography.Text></Descriptions.Item>
        </Descriptions>
      </Card>
      <Card title={t("attempts")} style={{ marginTop: 16 }}>
        <Table size="small" rowKey="id" pagination={false} dataSource={d.attempts} data-testid="table-attempts"
          columns={[
            { title: "started", dataIndex: "started_at", render: time },
            { title: "ms", dataIndex: "duration_ms" },
            { title: "HTTP", dataIndex: "http_status" },
            { title: "delivered", dataIndex: "delivered", render: (v) => (v ? "✓" : "✗") },
            { title: "error", dataIndex: "error" },
            { title: "response", dataIndex: "response_body", ellipsis: true },
          ]} />
      </Card>
      {d.chains?.length > 0 && (
        <Card title="chain" style={{ marginTop: 16 }}>
          <Table size="small" rowKey="id" pagination={false} dataSource={d.chains}
            columns={[
              { title: "id", dataIndex: "id", render: (v) => <Link to={`/notifications/${v}`}>#{v}</Link> },
              { title: "chain_no", dataIndex: "chain_no" },
              { title: t("status"), dataIndex: "status" },
              { title: t("attempts"), dataIndex: "attempt_count" },
              { title: t("createdAt"), dataIndex: "created_at", render: time },
            ]} />
        </Card>
      )}
    </div>
  );
}
