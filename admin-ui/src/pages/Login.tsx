import { Alert, Button, Card, Form, Input, Space } from "antd";
import { useState } from "react";
import { ApiError, login } from "../api";
import { useI18n } from "../i18n";

export function Login() {
  const { t, lang, setLang } = useI18n();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (v: { username: string; password: string; totp?: string }) => {
    setBusy(true);
    setError(null);
    try {
      await login(v.username, v.password, v.totp);
    } catch (e) {
      if (e instanceof ApiError && e.status === 429) setError(t("tooManyAttempts"));
      // The server answers every refusal alike (unknown user, wrong password or code).
      else if (e instanceof ApiError && e.status === 401) setError(t("signInFailed"));
      else setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div style={{ display: "flex", justifyContent: "center", paddingTop: "12vh" }}>
      <Card title={t("appTitle")} style={{ width: 380 }} extra={
        <Button size="small" onClick={() => setLang(lang === "zh" ? "en" : "zh")} data-testid="lang-toggle">{t("language")}</Button>
      }>
        <Form layout="vertical" onFinish={submit} data-testid="login-form">
          <Form.Item name="username" label={t("username")} rules={[{ required: true }]}>
            <Input autoComplete="username" data-testid="login-username" />
          </Form.Item>
          <Form.Item name="password" label={t("password")} rules={[{ required: true }]}>
            <Input.Password autoComplete="current-password" data-testid="login-password" />
          </Form.Item>
          <Form.Item name="totp" label={t("totp")}>
            <Input autoComplete="one-time-code" inputMode="numeric" maxLength={6} data-testid="login-totp" />
          </Form.Item>
          <Space direction="vertical" style={{ width: "100%" }}>
            {error && <Alert type="error" message={error} data-testid="login-error" />}
            <Button type="primary" htmlType="submit" block loading={busy} data-testid="login-submit">
              {t("signIn")}
            </Button>
          </Space>
        </Form>
      </Card>
    </div>
  );
}
