import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App as AntApp, ConfigProvider } from "antd";
import zhCN from "antd/locale/zh_CN";
import enUS from "antd/locale/en_US";
import "dayjs/locale/zh-cn";
import { BrowserRouter } from "react-router-dom";
import { AuthProvider } from "./auth";
import { I18nProvider, useI18n } from "./i18n";
import { Routes } from "./routes";

function Themed() {
  const { lang } = useI18n();
  return (
    <ConfigProvider locale={lang === "zh" ? zhCN : enUS}>
      <AntApp>
        <AuthProvider>
          <BrowserRouter basename="/console">
            <Routes />
          </BrowserRouter>
        </AuthProvider>
      </AntApp>
    </ConfigProvider>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <I18nProvider>
      <Themed />
    </I18nProvider>
  </StrictMode>,
);
