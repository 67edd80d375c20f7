// The console's own strings in Chinese (the default) and English; the choice is kept in
// localStorage under LANG_KEY. antd's own texts follow through its locale (main.tsx).
import { createContext, useContext, useState, type ReactNode } from "react";

export type Lang = "zh" | "en";
export const LANG_KEY = "nkpay.console.lang";

const strings = {
  appTitle: ["nkpay 服务商控制台", "nkpay service provider console"],
  signIn: ["登录", "Sign in"],
  signOut: ["退出登录", "Sign out"],
  username: ["用户名", "Username"],
  password: ["密码", "Password"],
  totp: ["动态口令(如已启用)", "One-time code (if enabled)"],
  signInFailed: ["用户名、密码或动态口令错误", "Wrong username, password or one-time code"],
  tooManyAttempts: ["尝试次数过多,请稍后再试", "Too many attempts, try again later"],
  sessionExpired: ["登录已过期,请重新登录", "Session expired, sign in again"],
  language: ["English", "中文"],
  dashboard: ["概览", "Dashboard"],
  merchants: ["商户", "Merchants"],
  merchantList: ["商户列表", "Merchant list"],
  reviewQueue: ["进件审核", "Review queue"],
  serviceProviders: ["服务商", "Service providers"],
  trades: ["交易", "Trades"],
  refunds: ["退款", "Refunds"],
  notifications: ["商户通知", "Notifications"],
  statements: ["对账单", "Statements"],
  reconciliation: ["对账", "Reconciliation"],
  settings: ["平台设置", "Settings"],
  channelAccounts: ["渠道账户", "Channel accounts"],
  platformKeys: ["平台密钥", "Platform keys"],
  users: ["用户与令牌", "Users and tokens"],
  audit: ["审计日志", "Audit log"],
  search: ["搜索", "Search"],
  reset: ["重置", "Reset"],
  exportCsv: ["导出 CSV", "Export CSV"],
  refresh: ["刷新", "Refresh"],
  detail: ["详情", "Detail"],
  actions: ["操作", "Actions"],
  status: ["状态", "Status"],
  name: ["名称", "Name"],
  createdAt: ["创建时间", "Created"],
  updatedAt: ["更新时间", "Updated"],
  approve: ["通过", "Approve"],
  reject: ["驳回", "Reject"],
  reason: ["原因", "Reason"],
  freeze: ["冻结", "Freeze"],
  unfreeze: ["解冻", "Unfreeze"],
  frozen: ["已冻结", "Frozen"],
  reveal: ["查看明文", "Reveal"],
  businesses: ["业务开通", "Businesses"],
  bindings: ["AppID 绑定", "AppID bindings"],
  appids: ["已绑定 AppID", "Bound appids"],
  alipayAuthLink: ["支付宝授权链接", "Alipay authorization link"],
  retry: ["重试", "Retry"],
  application: ["进件资料", "Application"],
  forbidden: ["当前角色无权访问此页面", "Your role may not open this page"],
  notFound: ["页面不存在", "Page not found"],
  notAvailable: ["后端尚未提供此接口", "The backend does not offer this yet"],
  loading: ["加载中…", "Loading…"],
  saved: ["已保存", "Saved"],
  done: ["操作成功", "Done"],
  confirm: ["确定", "OK"],
  cancel: ["取消", "Cancel"],
  rotateKey: ["轮换密钥", "Rotate key"],
  rotateConfirm: [
    "生成新密钥?现有调用方继续使用当前密钥,直到切换或退役日期到期。",
    "Create a new key? Current callers keep their key until switched or its retirement date passes.",
  ],
  retireAfterDays: ["旧密钥退役天数", "Retire the old key after (days)"],
  switchKey: ["切换调用方密钥", "Switch caller's key"],
  callers: ["调用方数", "Callers"],
  create: ["新建", "Create"],
  todayVolume: ["今日交易额(元)", "Today's volume (yuan)"],
  todayCount: ["今日笔数", "Today's count"],
  successRate: ["成功率", "Success rate"],
  todaySucceeded: ["今日成功笔数", "Today's successful"],
  notifyDead: ["通知已放弃", "Notifications given up"],
  notifyPending: ["通知待首次投递", "Notifications awaiting a first attempt"],
  notifyAllPending: ["通知未送达(重试中)", "Notifications not delivered yet"],
  notifyFailing: ["通知重试中", "Notifications failing (retrying)"],
  openIncidents: ["未处理异常", "Open incidents"],
  pendingApplications: ["待审核进件", "Applications to review"],
  last30Days: ["近 30 天", "Last 30 days"],
  byTypeChannel: ["今日分布", "Today by"],
  resend: ["重发", "Re-send"],
  resendRange: ["按范围重发", "Re-send a range"],
  attempts: ["投递记录", "Attempts"],
  download: ["下载", "Download"],
  runs: ["对账批次", "Runs"],
  differences: ["差异", "Differences"],
  incidents: ["异常", "Incidents"],
  resolve: ["处理", "Resolve"],
  note: ["备注", "Note"],
  runNow: ["立即对账", "Run now"],
  refund: ["退款", "Refund"],
  refundable: ["可退金额(元)", "Refundable (yuan)"],
  refundAmount: ["退款金额(元)", "Refund amount (yuan)"],
  timeline: ["时间线", "Timeline"],
  certExpiry: ["证书到期", "Certificate expiry"],
  keys: ["密钥", "Keys"],
  feeFloors: ["费率下限", "Fee floors"],
  generateKey: ["生成密钥", "Generate key"],
  privateKeyOnce: ["私钥只显示这一次,请立即保存", "The private key is shown this once: save it now"],
  suspend: ["停用", "Suspend"],
  activate: ["启用", "Activate"],
  dateFrom: ["开始日期", "From"],
  dateTo: ["结束日期", "To"],
  role: ["角色", "Role"],
  total: ["共 {n} 条", "{n} in all"],
} as const;

export type StringKey = keyof typeof strings;

interface I18n {
  lang: Lang;
  setLang: (lang: Lang) => void;
  t: (key: StringKey, vars?: Record<string, string | number>) => string;
}

const I18nContext = createContext<I18n | null>(null);

/** The stored choice, Chinese when none (or storage is unavailable). */
export function storedLang(): Lang {
  try {
    return localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";
  } catch {
    return "zh";
  }
}

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(storedLang);
  const setLang = (next: Lang) => {
    try {
      localStorage.setItem(LANG_KEY, next);
    } catch {
      // Private mode: the choice lasts for this page only.
    }
    document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
    setLangState(next);
  };
  const t = (key: StringKey, vars?: Record<string, string | number>) => {
    let text: string = strings[key][lang === "zh" ? 0 : 1];
    for (const [k, v] of Object.entries(vars ?? {})) text = text.replace(`{${k}}`, String(v));
    return text;
  };
  return <I18nContext.Provider value={{ lang, setLang, t }}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const value = useContext(I18nContext);
  if (!value) throw new Error("useI18n outside I18nProvider");
  return value;
}
