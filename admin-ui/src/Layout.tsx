// The frame of every signed-in page: the menu (only what the role may open), the language
// toggle, who is signed in, sign-out.
import { Button, Layout as AntLayout, Menu, Space, Tag, Typography } from "antd";
import type { ReactNode } from "react";
import { useLocation, useNavigate } from "react-router-dom";
import { logout } from "./api";
import { useAuth } from "./auth";
import { useI18n, type StringKey } from "./i18n";
import { roleNames, type Action } from "./roles";

interface Item {
  path: string;
  label: StringKey;
  need: Action[];
  children?: Item[];
}

const menu: Item[] = [
  { path: "/", label: "dashboard", need: [] },
  {
    path: "/merchants-group", label: "merchants", need: ["merchants.read"], children: [
      { path: "/merchants", label: "merchantList", need: ["merchants.read"] },
      { path: "/applications", label: "reviewQueue", need: ["merchants.review"] },
    ],
  },
  { path: "/service-providers", label: "serviceProviders", need: ["providers.read"] },
  {
    path: "/trades-group", label: "trades", need: ["trades.read"], children: [
      { path: "/trades", label: "trades", need: ["trades.read"] },
      { path: "/refunds", label: "refunds", need: ["trades.read"] },
    ],
  },
  { path: "/notifications", label: "notifications", need: ["notifications.read"] },
  { path: "/statements", label: "statements", need: ["statements.read"] },
  { path: "/reconciliation", label: "reconciliation", need: ["reconciliation.read"] },
  {
    path: "/settings", label: "settings", need: ["settings.open"], children: [
      { path: "/settings/channel-accounts", label: "channelAccounts", need: ["channelAccounts.read"] },
      { path: "/settings/platform-keys", label: "platformKeys", need: ["platformKeys.read"] },
      { path: "/settings/users", label: "users", need: ["identities.manage"] },
      { path: "/settings/audit", label: "audit", need: ["audit.read"] },
    ],
  },
];

export function Layout({ children }: { children: ReactNode }) {
  const { session, can } = useAuth();
  const { t, lang, setLang } = useI18n();
  const navigate = useNavigate();
  const location = useLocation();
  const items = menu
    .filter((i) => i.need.every(can))
    .map((i) => ({
      key: i.path,
      label: t(i.label),
      "data-testid": `nav-${i.path}`,
      children: i.children
        ?.filter((c) => c.need.every(can))
        .map((c) => ({ key: c.path, label: t(c.label), "data-testid": `nav-${c.path}` })),
    }));
  const selected = [...menu.flatMap((i) => [i, ...(i.children ?? [])])]
    .map((i) => i.path)
    .filter((p) => p === "/" ? location.pathname === "/" : location.pathname.startsWith(p))
    .sort((a, b) => b.length - a.length)
    .slice(0, 1);
  const role = session?.role;
  return (
    <AntLayout style={{ minHeight: "100vh" }}>
      <AntLayout.Sider width={200} theme="light" breakpoint="lg" collapsedWidth={0}>
        <Typography.Title level={5} style={{ padding: "16px 16px 0" }}>
          nkpay
        </Typography.Title>
        <nav data-testid="menu">
        <Menu
          mode="inline"
          items={items}
          selectedKeys={selected}
          defaultOpenKeys={["/merchants-group", "/trades-group", "/settings"]}
          onClick={({ key }) => navigate(key)}
        />
        </nav>
      </AntLayout.Sider>
      <AntLayout>
        <AntLayout.Header style={{ background: "#fff", padding: "0 24px", display: "flex", justifyContent: "space-between", alignItems: "center" }}>
          <Typography.Text strong>{t("appTitle")}</Typography.Text>
          <Space>
            <span data-testid="whoami">{session?.username}</span>
            {role && <Tag color="blue" data-testid="role">{roleNames[role]?.[lang === "zh" ? 0 : 1] ?? role}</Tag>}
            {session?.sysId && <Tag>{session.sysId}</Tag>}
            <Button size="small" onClick={() => setLang(lang === "zh" ? "en" : "zh")} data-testid="lang-toggle">
              {t("language")}
            </Button>
            <Button size="small" onClick={() => logout()} data-testid="sign-out">
              {t("signOut")}
            </Button>
          </Space>
        </AntLayout.Header>
        <AntLayout.Content style={{ margin: 16, padding: 16, background: "#fff" }}>{children}</AntLayout.Content>
      </AntLayout>
    </AntLayout>
  );
}
