// One trade: its fields, its refunds, the refundable amount with a refund button, and the
// timeline — the merchant's request, channel requests and replies, channel notifies, merchant
// notification attempts — from GET /admin/api/trades/{nkp_seq_id}.
import { App, Button, Card, Descriptions, Form, Input, Modal, Space, Table, Tag, Timeline, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { get, post } from "../api";
import { useAuth } from "../auth";
import { fenOf, time, yuan } from "../format";
import { useI18n } from "../i18n";

function amountText(fen: unknown, text: unknown): string {
  return typeof text === "string" ? text : typeof fen === "number" ? yuan(fen) : "";
}

/** A timeline event's own fields (request and reply bodies, status, …) as one line of JSON. */
function eventDetail(e: Record<string, unknown>): string {
  const { at: _at, kind: _kind, summary: _summary, ...rest } = e;
  return JSON.stringify(rest);
}

export function TradeDetail() {
  const { seqId = "" } = useParams();
  return <TradePage key={seqId} seqId={seqId} />;
}

function TradePage({ seqId }: { seqId: string }) {
  const { t } = useI18n();
  const { can } = useAuth();
  const { message } = App.useApp();
  const [d, setD] = useState<any>(null);
  const [error, setError] = useState<string | null>(null);
  const [refunding, setRefunding] = useState(false);
  const [requestId, setRequestId] = useState("");
  const reload = useCallback(async () => {
    try {
      setD(await get(`/admin/api/trades/${seqId}`));
    } catch (e) {
      setError((e as Error).message);
    }
  }, [seqId]);
  useEffect(() => {
    reload();
  }, [reload]);
  if (error) return <Typography.Text type="danger">{error}</Typography.Text>;
  if (!d) return <Typography.Text>{t("loading")}</Typography.Text>;
  const trade = d.trade ?? d;
  const refundableFen: number | undefined =
    typeof d.refundable_fen === "number" ? d.refundable_fen : typeof d.refundable === "object" ? d.refundable?.amount_fen : undefined;
  const refundableText = amountText(refundableFen, typeof d.refundable === "string" ? d.refundable : d.refundable?.amount);
  const events: any[] = d.timeline ?? [];
  return (
    <div data-testid="page-trade-detail">
      <Typography.Title level={4}>{t("trades")} {trade.nkp_seq_id}</Typography.Title>
      <Card
        extra={
          <Space>
            <Button onClick={reload} data-testid="reload">{t("refresh")}</Button>
            {can("refunds.create") && refundableText && refundableText !== "0.00" && (
              <Button type="primary" danger onClick={() => { setRequestId(`console${Date.now()}${Math.floor(Math.random() * 1e6)}`); setRefunding(true); }} data-testid="refund-button">
                {t("refund")} ({t("refundable")}: {refundableText})
              </Button>
            )}
          </Space>
        }
      >
        <Descriptions size="small" column={2} bordered data-testid="trade-fields">
          {Object.entries(trade).filter(([, v]) => typeof v !== "object" || v === null).map(([k, v]) => (
            <Descriptions.Item key={k} label={k}>{k.endsWith("_at") || k.endsWith("_time") ? time(v as string) : String(v ?? "")}</Descriptions.Item>
          ))}
          <Descriptions.Item label={t("refundable")}><span data-testid="refundable">{refundableText}</span></Descriptions.Item>
        </Descriptions>
      </Card>
      <Card title={t("refunds")} style={{ marginTop: 16 }}>
        <Table size="small" rowKey={(r: any) => r.nkp_seq_id ?? r.req_seq_id} pagination={false} dataSource={d.refunds ?? []} data-testid="table-trade-refunds"
          columns={[
            { title: "nkp_seq_id", dataIndex: "nkp_seq_id" },
            { title: "req_seq_id", dataIndex: "req_seq_id" },
            { title: t("status"), dataIndex: "status" },
            { title: "ord_amt", render: (_, r: any) => amountText(r.amount_fen, r.ord_amt) },
            { title: t("createdAt"), dataIndex: "created_at", render: time },
          ]} />
      </Card>
      <Card title={t("timeline")} style={{ marginTop: 16 }} data-testid="timeline">
        <Timeline
          items={events.map((e, i) => ({
            key: i,
            color: e.ok === false || e.error ? "red" : "blue",
            children: (
              <div data-testid="timeline-event">
                <Typography.Text strong>{time(e.at ?? e.time ?? e.created_at)}</Typography.Text>{" "}
                <Tag>{e.kind ?? e.type}</Tag> {e.title ?? e.summary ?? ""}
                {e.notification_id && <> <Link to={`/notifications/${e.notification_id}`}>#{e.notification_id}</Link></>}
                <Typography.Paragraph type="secondary" ellipsis={{ rows: 2, expandable: true }} style={{ marginBottom: 0, fontFamily: "monospace" }}>
                  {eventDetail(e)}
                </Typography.Paragraph>
              </div>
            ),
          }))}
        />
      </Card>
      <Modal open={refunding} title={t("refund")} onCancel={() => setRefunding(false)} footer={null} destroyOnClose>
        <Form layout="vertical" initialValues={{ amount: refundableText }} onFinish={async (v) => {
          const fen = fenOf(v.amount);
          if (fen === null || fen <= 0) return message.error(`${t("refundAmount")}: 0.01 - ${refundableText}`);
          try {
            // One request id per dialog: a repeated click is the same refund, not a second one.
            await post(`/admin/api/trades/${trade.nkp_seq_id}/refund`, { request_id: requestId, amount: yuan(fen), reason: v.reason || undefined });
            message.success(t("done"));
            setRefunding(false);
            await reload();
          } catch (e) {
            message.error((e as Error).message);
          }
        }}>
          <Form.Item name="amount" label={`${t("refundAmount")} (≤ ${refundableText})`} rules={[{ required: true }]}><Input data-testid="refund-amount" /></Form.Item>
          <Form.Item name="reason" label={t("reason")}><Input /></Form.Item>
          <Button type="primary" danger htmlType="submit" data-testid="refund-confirm">{t("confirm")}</Button>
        </Form>
      </Modal>
    </div>
  );
}
