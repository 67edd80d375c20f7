// One way to run a console write: call it, say "done" or the server's refusal, then refresh.
import { App } from "antd";
import { useI18n } from "../i18n";

/** `act(fn)` runs `fn`, shows success (or `fn`'s error message), then calls `after(result)`;
 *  it answers the result, or undefined when `fn` failed. */
export function useAction(after: (result: any) => unknown) {
  const { t } = useI18n();
  const { message } = App.useApp();
  return async function act<R>(fn: () => Promise<R>): Promise<R | undefined> {
    try {
      const result = await fn();
      message.success(t("done"));
      await after(result);
      return result;
    } catch (e) {
      message.error((e as Error).message);
      return undefined;
    }
  };
}
