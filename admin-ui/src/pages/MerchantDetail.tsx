// One merchant: its fields (personal values masked; the platform admin may reveal one, which
// is audited), freeze/unfreeze, businesses with their appid bindings (retry), recording the
// WeChat sub_mch_id, and the Alipay authorization link.
import { Button, Card, Descriptions, Form, Input, Modal, Space, Table, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { useParams } from "react-router-dom";
import { get, post, put } from "../api";
import { useAuth } from "../auth";
import { time } from "../format";
import { useAction } from "../components/useAction";
import { useI18n } from "../i18n";

const REVEALABLE = ["legal_cert_no", "contact_mobile_no", "contact_email", "card_info.card_no", "card_info.cert_no", "card_info.mp"];

function flatten(obj: Record<string, any>, prefix = ""): [string, string][] {
  return Object.entries(obj ?? {}).flatMap(([k, v]) =>
    v && typeof v === "object" && !Array.isArray(v) ? flatten(v, `${prefix}${k}.`) : [[`${prefix}${k}`, typeof v === "string" ? v : JSON.stringify(v)] as [string, string]],
  );
}

export function MerchantDetail() {
  const { merId = "" } = useParams();
  // A fresh page per merchant: nothing revealed for one may show on another.
  return <MerchantPage key={merId} merId={merId} />;
}

function MerchantPage({ merId }: { merId: string }) {
  const { t } = useI18n();
  const { can } = useAuth();
  const [detail, setDetail] = useState<any>(null);
  const [biz, setBiz] = useState<any>(null);
  const [revealed, setRevealed] = useState<Record<string, string>>({});
  const [authLink, setAuthLink] = useState<string | null>(null);
  const [freezeOpen, setFreezeOpen] = useState(false);
  const [subMchOpen, setSubMchOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const reload = useCallback(async () => {
    try {
      setDetail(await get(`/admin/api/merchants/${merId}`));
      setBiz(await get(`/admin/api/merchants/${merId}/businesses`));
    } catch (e) {
      setError((e as Error).message);
    }
  }, [merId]);
  useEffect(() => {
    reload();
  }, [reload]);

  const act = useAction(reload);

  if (error) return <Typography.Text type="danger" data-testid="load-error">{error}</Typography.Text>;
  if (!detail) return <Typography.Text>{t("loading")}</Typography.Text>;
  const m = detail.merchant;
  const fields = flatten(detail.application?.details ?? {});

  return (
    <div data-testid="page-merchant-detail">
      <Typography.Title level={4}>
        {m.name} <Typography.Text type="secondary">{m.mer_id}</Typography.Text>
      </Typography.Title>
      <Card
        title={t("detail")}
        extra={
          can("merchants.review") && (
            <Space>
              {m.frozen ? (
                <Button onClick={() => act(() => post(`/admin/api/merchants/${merId}/unfreeze`))} data-testid="unfreeze">{t("unfreeze")}</Button>
              ) : (
                <Button danger onClick={() => setFreezeOpen(true)} data-testid="freeze">{t("freeze")}</Button>
              )}
            </Space>
          )
        }
      >
        <Descriptions size="small" column={2} bordered>
          <Descriptions.Item label="mer_id">{m.mer_id}</Descriptions.Item>
          <Descriptions.Item label="sys_id">{m.sys_id}</Descriptions.Item>
          <Descriptions.Item label="kind">{m.kind}</Descriptions.Item>
          <Descriptions.Item label="apply_status">{m.apply_status}</Descriptions.Item>
          <Descriptions.Item label={t("status")}>
            {m.status} {m.frozen && <Tag color="red">{t("frozen")}: {m.frozen_reason}</Tag>}
          </Descriptions.Item>
          <Descriptions.Item label={t("createdAt")}>{time(m.created_at)}</Descriptions.Item>
        </Descriptions>
      </Card>
      {detail.application && (
        <Card title={`${t("application")} ${detail.application.apply_no}`} style={{ marginTop: 16 }}>
          <Descriptions size="small" column={1} bordered data-testid="application-fields">
            {fields.map(([k, v]) => (
              <Descriptions.Item label={k} key={k}>
                <Space>
                  <span data-testid={`field-${k}`}>{revealed[k] ?? v}</span>
                  {can("merchants.reveal") && REVEALABLE.includes(k) && !revealed[k] && (
                    <Button size="small" data-testid={`reveal-${k}`}
                      onClick={() => act(async () => {
                        const r = await post(`/admin/api/merchants/${merId}/reveal`, { field: k });
                        setRevealed((old) => ({ ...old, [k]: r.value }));
                      })}>
                      {t("reveal")}
                    </Button>
                  )}
                </Space>
              </Descriptions.Item>
            ))}
          </Descriptions>
        </Card>
      )}
      <Card
        title={t("businesses")}
        style={{ marginTop: 16 }}
        data-testid="businesses"
        extra={
          can("businesses.write") && (
            <Space>
              <Button onClick={() => setSubMchOpen(true)}>sub_mch_id</Button>
              <Button data-testid="alipay-auth-link"
                onClick={() => act(async () => setAuthLink((await get(`/admin/api/merchants/${merId}/businesses/alipay/auth-link`)).url))}>
                {t("alipayAuthLink")}
              </Button>
            </Space>
          )
        }
      >
        {authLink && (
          <Typography.Paragraph copyable={{ text: authLink }} data-testid="auth-link-url">
            <a href={authLink} target="_blank" rel="noreferrer">{authLink}</a>
          </Typography.Paragraph>
        )}
        <Table size="small" rowKey="channel" pagination={false} dataSource={biz?.businesses ?? []} data-testid="table-businesses"
          columns={[
            { title: "channel", dataIndex: "channel" },
            { title: "state", dataIndex: "state" },
            { title: "fee_rate %", dataIndex: "fee_rate" },
            { title: "sub_mch_id", dataIndex: "sub_mch_id" },
            { title: "auth_app_id", dataIndex: "auth_app_id" },
            { title: t("reason"), dataIndex: "reason" },
          ]} />
        <Typography.Title level={5} style={{ marginTop: 16 }}>{t("bindings")}</Typography.Title>
        <Table size="small" rowKey="id" pagination={false} dataSource={biz?.bindings ?? []} data-testid="table-bindings"
          columns={[
            { title: "kind", dataIndex: "kind" },
            { title: "value", dataIndex: "value" },
            { title: "state", dataIndex: "state" },
            { title: "err", render: (_, b: any) => [b.err_code, b.err_msg].filter(Boolean).join(" ") },
            { title: "attempts", dataIndex: "attempts" },
            {
              title: t("actions"), key: "actions",
              render: (_, b: any) => can("businesses.write") && b.state !== "S" && (
                <Button size="small" onClick={() => act(() => post(`/admin/api/merchants/${merId}/bindings/${b.id}/retry`))}>{t("retry")}</Button>
              ),
            },
          ]} />
        {detail.appids?.length > 0 && (
          <Typography.Paragraph style={{ marginTop: 12 }}>
            {t("appids")}: {detail.appids.map((a: any) => <Tag key={a.appid}>{a.kind}: {a.appid}</Tag>)}
          </Typography.Paragraph>
        )}
      </Card>
      <Modal open={freezeOpen} title={t("freeze")} onCancel={() => setFreezeOpen(false)} footer={null} destroyOnClose>
        <Form onFinish={(v) => act(async () => { await post(`/admin/api/merchants/${merId}/freeze`, { reason: v.reason }); setFreezeOpen(false); })}>
          <Form.Item name="reason" label={t("reason")} rules={[{ required: true, max: 256 }]}><Input data-testid="freeze-reason" /></Form.Item>
          <Button type="primary" danger htmlType="submit" data-testid="freeze-confirm">{t("confirm")}</Button>
        </Form>
      </Modal>
      <Modal open={subMchOpen} title="WeChat sub_mch_id" onCancel={() => setSubMchOpen(false)} footer={null} destroyOnClose>
        <Form onFinish={(v) => act(async () => {
          await put(`/admin/api/merchants/${merId}/businesses/wechat`, { sub_mch_id: v.sub_mch_id, channel_account_id: v.channel_account_id ? Number(v.channel_account_id) : undefined });
          setSubMchOpen(false);
        })}>
          <Form.Item name="sub_mch_id" label="sub_mch_id" rules={[{ required: true }]}><Input /></Form.Item>
          <Form.Item name="channel_account_id" label="channel_account_id"><Input /></Form.Item>
          <Button type="primary" htmlType="submit">{t("confirm")}</Button>
        </Form>
      </Modal>
    </div>
  );
}
