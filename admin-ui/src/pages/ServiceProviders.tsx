// Service providers (agents): create (upload a public key or generate a pair: the private key
// is shown once), replace keys with an overlap, fee-rate floors per payment method, suspend.
import { Alert, Button, Checkbox, Form, Input, InputNumber, Modal, Space, Table, Tag, Typography } from "antd";
import { useMemo, useState } from "react";
import { del, get, post, put } from "../api";
import { useAuth } from "../auth";
import { DataTable, limitPager } from "../components/DataTable";
import { time } from "../format";
import { useAction } from "../components/useAction";
import { useI18n } from "../i18n";

const TRADE_TYPES = ["T_JSAPI", "T_MINIAPP", "A_NATIVE"];

export function ServiceProviders() {
  const { t } = useI18n();
  const { can } = useAuth();
  const [generation, setGeneration] = useState(0);
  const [creating, setCreating] = useState(false);
  const [keysOf, setKeysOf] = useState<any>(null);
  const [floorsOf, setFloorsOf] = useState<{ sys_id: string; fee_floors: Record<string, any> } | null>(null);
  const [privateKey, setPrivateKey] = useState<string | null>(null);
  const load = useMemo(() => limitPager(async () => (await get("/admin/api/service-providers")).items), []);
  const act = useAction((r) => {
    if (r?.private_key) setPrivateKey(r.private_key);
    setGeneration((g) => g + 1);
  });
  return (
    <div data-testid="page-service-providers">
      <Typography.Title level={4}>{t("serviceProviders")}</Typography.Title>
      {privateKey && (
        <Alert type="warning" closable onClose={() => setPrivateKey(null)} message={t("privateKeyOnce")} style={{ marginBottom: 16 }}
          description={<Typography.Paragraph copyable code style={{ whiteSpace: "pre-wrap" }} data-testid="private-key">{privateKey}</Typography.Paragraph>} />
      )}
      <DataTable
        name="service-providers"
        rowKey="sys_id"
        load={load}
        reloadKey={generation}
        extra={can("providers.write") && <Button type="primary" onClick={() => setCreating(true)} data-testid="create-provider">{t("create")}</Button>}
        columns={[
          { title: "sys_id", dataIndex: "sys_id" },
          { title: "product_id", dataIndex: "product_id" },
          { title: t("name"), dataIndex: "name" },
          { title: t("status"), dataIndex: "status", render: (v) => <Tag color={v === "active" ? "green" : "red"}>{v}</Tag> },
          { title: "fingerprint", dataIndex: ["keys", "current", "fingerprint"], render: (v) => <Typography.Text code>{String(v ?? "").slice(0, 16)}…</Typography.Text> },
          { title: "previous key until", dataIndex: ["keys", "previous", "valid_until"], render: time },
          { title: t("createdAt"), dataIndex: "created_at", render: time },
          {
            title: t("actions"), key: "actions",
            render: (_, p: any) => (
              <Space wrap>
                {can("providers.keys") && <Button size="small" onClick={() => setKeysOf(p)}>{t("keys")}</Button>}
                <Button size="small" data-testid={`fee-floors-${p.sys_id}`} onClick={async () => setFloorsOf(await get(`/admin/api/service-providers/${p.sys_id}/fee-floors`))}>{t("feeFloors")}</Button>
                {can("providers.write") && (p.status === "active"
                  ? <Button size="small" danger onClick={() => act(() => post(`/admin/api/service-providers/${p.sys_id}/suspend`))}>{t("suspend")}</Button>
                  : <Button size="small" onClick={() => act(() => post(`/admin/api/service-providers/${p.sys_id}/activate`))}>{t("activate")}</Button>)}
              </Space>
            ),
          },
        ]}
      />
      <Modal open={creating} title={t("create")} onCancel={() => setCreating(false)} footer={null} destroyOnClose width={640}>
        <Form layout="vertical" initialValues={{ generate: true }} onFinish={(v) => act(async () => {
          const r = await post("/admin/api/service-providers", {
            sys_id: v.sys_id, product_id: v.product_id, name: v.name,
            ...(v.generate ? { generate: true } : { public_key: v.public_key }),
          });
          setCreating(false);
          return r;
        })}>
          <Form.Item name="sys_id" label="sys_id" rules={[{ required: true }]}><Input data-testid="provider-sys-id" /></Form.Item>
          <Form.Item name="product_id" label="product_id" rules={[{ required: true }]}><Input data-testid="provider-product-id" /></Form.Item>
          <Form.Item name="name" label={t("name")} rules={[{ required: true }]}><Input data-testid="provider-name" /></Form.Item>
          <Form.Item name="generate" valuePropName="checked"><Checkbox>{t("generateKey")}</Checkbox></Form.Item>
          <Form.Item noStyle shouldUpdate>
            {({ getFieldValue }) => !getFieldValue("generate") && (
              <Form.Item name="public_key" label="RSA public key (PEM / base64)" rules={[{ required: true }]}><Input.TextArea rows={5} /></Form.Item>
            )}
          </Form.Item>
          <Button type="primary" htmlType="submit" data-testid="provider-confirm">{t("confirm")}</Button>
        </Form>
      </Modal>
      <Modal open={!!keysOf} title={`${t("keys")} ${keysOf?.sys_id ?? ""}`} onCancel={() => setKeysOf(null)} footer={null} destroyOnClose width={720}>
        {keysOf && (
          <>
            <Typography.Paragraph>current: <Typography.Text code>{keysOf.keys.current.fingerprint}</Typography.Text></Typography.Paragraph>
            {keysOf.keys.previous && (
              <Typography.Paragraph>
                previous: <Typography.Text code>{keysOf.keys.previous.fingerprint}</Typography.Text> → {time(keysOf.keys.previous.valid_until)}{" "}
                <Button size="small" onClick={() => act(async () => { await del(`/admin/api/service-providers/${keysOf.sys_id}/keys/previous`); setKeysOf(null); })}>end overlap</Button>
              </Typography.Paragraph>
            )}
            <Form layout="vertical" initialValues={{ generate: true, overlap_hours: 72 }} onFinish={(v) => act(async () => {
              const r = await post(`/admin/api/service-providers/${keysOf.sys_id}/keys`, {
                ...(v.generate ? { generate: true } : { public_key: v.public_key }), overlap_hours: v.overlap_hours,
              });
              setKeysOf(null);
              return r;
            })}>
              <Form.Item name="generate" valuePropName="checked"><Checkbox>{t("generateKey")}</Checkbox></Form.Item>
              <Form.Item noStyle shouldUpdate>
                {({ getFieldValue }) => !getFieldValue("generate") && (
                  <Form.Item name="public_key" label="RSA public key" rules={[{ required: true }]}><Input.TextArea rows={5} /></Form.Item>
                )}
              </Form.Item>
              <Form.Item name="overlap_hours" label="overlap_hours (1-720)"><InputNumber min={1} max={720} /></Form.Item>
              <Button type="primary" htmlType="submit">{t("confirm")}</Button>
            </Form>
          </>
        )}
      </Modal>
      <Modal open={!!floorsOf} title={`${t("feeFloors")} ${floorsOf?.sys_id ?? ""}`} onCancel={() => setFloorsOf(null)} footer={null} destroyOnClose>
        {floorsOf && (
          can("providers.write") ? (
            <Form layout="vertical"
              initialValues={Object.fromEntries(TRADE_TYPES.map((tt) => [tt, floorsOf.fee_floors[tt]?.fee_rate ?? ""]))}
              onFinish={(v) => act(async () => {
                const floors = Object.fromEntries(TRADE_TYPES.filter((tt) => v[tt] !== "" && v[tt] !== undefined).map((tt) => [tt, { fee_rate: String(v[tt]) }]));
                await put(`/admin/api/service-providers/${floorsOf.sys_id}/fee-floors`, { floors });
                setFloorsOf(null);
              })}>
              {TRADE_TYPES.map((tt) => <Form.Item key={tt} name={tt} label={`${tt} %`}><Input placeholder="0.38" data-testid={`floor-${tt}`} /></Form.Item>)}
              <Button type="primary" htmlType="submit" data-testid="floors-confirm">{t("confirm")}</Button>
            </Form>
          ) : (
            <Table size="small" pagination={false} rowKey="tt"
              dataSource={Object.entries(floorsOf.fee_floors).map(([tt, f]) => ({ tt, ...f }))}
              columns={[{ title: "trade_type", dataIndex: "tt" }, { title: "%", dataIndex: "fee_rate" }]} />
          )
        )}
      </Modal>
    </div>
  );
}
