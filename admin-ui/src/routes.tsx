// Every page and who may open it; a page the role may not open shows "forbidden" (the API
// refuses it too).
import { Result, Spin } from "antd";
import type { ReactNode } from "react";
import { Navigate, Route, Routes as RouterRoutes, useLocation } from "react-router-dom";
import { useAuth } from "./auth";
import { useI18n } from "./i18n";
import { Layout } from "./Layout";
import type { Action } from "./roles";
import { Login } from "./pages/Login";
import { Dashboard } from "./pages/Dashboard";
import { Merchants } from "./pages/Merchants";
import { MerchantDetail } from "./pages/MerchantDetail";
import { Applications } from "./pages/Applications";
import { ServiceProviders } from "./pages/ServiceProviders";
import { Trades } from "./pages/Trades";
import { TradeDetail } from "./pages/TradeDetail";
import { Refunds } from "./pages/Refunds";
import { Notifications } from "./pages/Notifications";
import { NotificationDetail } from "./pages/NotificationDetail";
import { Statements } from "./pages/Statements";
import { Reconciliation } from "./pages/Reconciliation";
import { ChannelAccounts } from "./pages/ChannelAccounts";
import { PlatformKeys } from "./pages/PlatformKeys";
import { Users } from "./pages/Users";
import { Audit } from "./pages/Audit";

function Guard({ need, children }: { need: Action[]; children: ReactNode }) {
  const { can } = useAuth();
  const { t } = useI18n();
  if (!need.every(can)) {
    return (
      <div data-testid="forbidden">
        <Result status="403" title="403" subTitle={t("forbidden")} />
      </div>
    );
  }
  return <>{children}</>;
}

export function Routes() {
  const { session, starting } = useAuth();
  const { t } = useI18n();
  const location = useLocation();
  if (starting) return <Spin style={{ margin: 80 }} />;
  if (!session) {
    return (
      <RouterRoutes>
        <Route path="/login" element={<Login />} />
        <Route path="*" element={<Navigate to="/login" replace state={{ from: location.pathname + location.search }} />} />
      </RouterRoutes>
    );
  }
  const page = (need: Action[], element: ReactNode) => <Guard need={need}>{element}</Guard>;
  return (
    <Layout>
      <RouterRoutes>
        <Route path="/login" element={<Navigate to={(location.state as any)?.from ?? "/"} replace />} />
        <Route path="/" element={<Dashboard />} />
        <Route path="/merchants" element={page(["merchants.read"], <Merchants />)} />
        <Route path="/merchants/:merId" element={page(["merchants.read"], <MerchantDetail />)} />
        <Route path="/applications" element={page(["merchants.review"], <Applications />)} />
        <Route path="/service-providers" element={page(["providers.read"], <ServiceProviders />)} />
        <Route path="/trades" element={page(["trades.read"], <Trades />)} />
        <Route path="/trades/:seqId" element={page(["trades.read"], <TradeDetail />)} />
        <Route path="/refunds" element={page(["trades.read"], <Refunds />)} />
        <Route path="/notifications" element={page(["notifications.read"], <Notifications />)} />
        <Route path="/notifications/:id" element={page(["notifications.read"], <NotificationDetail />)} />
        <Route path="/statements" element={page(["statements.read"], <Statements />)} />
        <Route path="/reconciliation" element={page(["reconciliation.read"], <Reconciliation />)} />
        <Route path="/settings" element={page(["settings.open"], <Navigate to="/settings/channel-accounts" replace />)} />
        <Route path="/settings/channel-accounts" element={page(["settings.open", "channelAccounts.read"], <ChannelAccounts />)} />
        <Route path="/settings/platform-keys" element={page(["settings.open", "platformKeys.read"], <PlatformKeys />)} />
        <Route path="/settings/users" element={page(["settings.open", "identities.manage"], <Users />)} />
        <Route path="/settings/audit" element={page(["settings.open", "audit.read"], <Audit />)} />
        <Route path="*" element={<Result status="404" title="404" subTitle={t("notFound")} />} />
      </RouterRoutes>
    </Layout>
  );
}
