// Chinese by default, as the shops Kameng serves expect; English one click away.
import { createI18n } from "vue-i18n";

const zh = {
  brand: "卡盟商城",
  nav: { shop: "商品", orders: "我的订单", wallet: "钱包", agent: "代理中心", signIn: "登录", register: "注册", signOut: "退出", console: "管理后台", language: "English" },
  shop: {
    categories: "分类", all: "全部", stock: "库存", unlimited: "不限", soldOut: "已售罄", quantity: "数量", buy: "立即购买",
    empty: "暂无商品", loading: "加载中…", signInToBuy: "请先登录再购买", joinShop: "注册成为本店会员",
  },
  auth: {
    username: "用户名", password: "密码", signIn: "登录", register: "注册", noAccount: "还没有账号？", haveAccount: "已有账号？",
    registered: "注册成功，请登录", inviteCode: "邀请码（选填）",
  },
  order: {
    title: "订单", total: "合计", status: "状态", placedAt: "下单时间", items: "商品", pay: "支付", payWith: "选择支付方式",
    waitingPayment: "等待支付结果…", openPayPage: "打开支付页面", scanToPay: "请用微信扫码或打开链接支付", reveal: "查看卡密",
    cards: "卡密", number: "卡号", secret: "密码", copy: "复制", copied: "已复制", history: "订单进度", none: "还没有订单",
    more: "加载更多", deadline: "请在此时间前支付", throughShop: "分站",
  },
  methods: { alipay: "支付宝", wechat: "微信支付", unionpay: "银联", balance: "余额", mockpay: "模拟支付" },
  status: {
    pending: "处理中", awaiting_payment: "待支付", on_hold: "审核中", paid: "已支付", delivered: "已发货",
    cancelled: "已取消", expired: "已过期", refunded: "已退款", failed: "失败",
  },
  admin: {
    title: "管理后台", dashboard: "概览", products: "商品", orders: "订单", staff: "员工", signedInAs: "当前账号",
    salesByDay: "每日销售额", ordersByStatus: "订单状态", stock: "库存", lowStock: "库存不足", topProducts: "热销商品",
    name: "名称", category: "分类", kind: "类型", price: "价格", actions: "操作", newCategory: "新建分类", newProduct: "新建商品",
    importCards: "导入卡密", importHint: "每行一张：卡号 空格 密码；或选择 .txt / .csv 文件", chooseFile: "选择文件",
    upload: "上传", imported: "已导入", duplicates: "重复", rejected: "无效", lines: "行号", create: "创建", cancel: "取消",
    customerId: "客户 ID", orderId: "订单号", filterStatus: "按状态筛选", timeline: "时间线", role: "角色", createStaff: "新建员工",
    reviews: "风控审核", auditLog: "审计日志", noReviews: "没有待审核的订单", heldAt: "挂起时间", score: "分数", reasons: "原因",
    decideBy: "截止", approve: "通过", reject: "拒绝", reason: "理由", actor: "操作人", action: "动作", at: "时间", target: "对象",
    detail: "详情", verifyChain: "校验哈希链", chainIntact: "哈希链完整：已校验 {checked} 条", chainBroken: "哈希链在第 {seq} 条被破坏",
    refunds: "退款", suppliers: "供货商", refund: "退款", refundTo: "退至", to: { original: "原支付渠道", wallet: "余额" },
    lastError: "最近错误", newSupplier: "新建供货商", synced: "已同步", syncedAt: "同步时间", syncNow: "立即同步",
    created: "已创建", noAccess: "此角色无权访问该页面", levelPrices: "等级价格 (JSON)", refresh: "刷新",
    blacklist: "黑名单", levels: "会员等级", finance: "财务", agents: "代理与提现", customers: "客户", refundRequests: "售后申请", coupons: "优惠券",
    restock: "补货", low: "库存不足", threshold: "预警阈值", forecast7d: "7 天预测销量", daysOfCover: "可售天数",
    suggested: "建议补货", setThreshold: "设置阈值", save: "保存",
    method: { holt_winters: "Holt-Winters", mean: "日均", none: "无销量" },
  },
  wallet: {
    balance: "余额", amount: "金额", topUp: "充值", entries: "明细",
    kinds: { topup: "充值", payment: "消费", refund: "退款" },
  },
  products: {
    edit: "编辑", details: "卡密与价格", on_sale: "在售", off_sale: "已下架", onSale: "上架销售", stockLimit: "循环卡售卖上限",
    quotedKeep: "已下单的订单保持下单时的价格。", cards: "卡密", state: "状态", imported: "导入时间", void: "作废", priceHistory: "价格历史",
    states: { available: "可售", reserved: "已预留", sold: "已售", refunded: "已退款", void: "已作废" },
  },
  coupons: {
    create: "新建优惠券", code: "券码", kind: "类型", value: "优惠", kinds: { amount_off: "满减", percent_off: "折扣" },
    amountOff: "减免金额（元）", percentOff: "减免比例（%）", minTotal: "最低消费（元）", window: "有效期", totalLimit: "总数量（不填为不限）",
    perCustomer: "每人限用", productIds: "限定商品 ID（逗号分隔，选填）", categoryIds: "限定分类 ID（逗号分隔，选填）",
    public: "公开券码", issuedOnly: "定向发放", audience: "范围", used: "已用/总数", issue: "发放", customerIds: "客户 ID（逗号或换行分隔）",
    segment: "限定客群（选填：标签如 high_value，或地区如 region:GD）",
    orTag: "或按标签发放（如 dormant）", issued: "已发放给 {customers} 位客户（新增 {fresh} 位）",
    code_label: "优惠券", mine: "我的优惠券", none: "暂无可用优惠券", uses_left: "剩余次数", discount: "优惠",
  },
  afterSales: {
    ask: "申请售后退款", reason: "退款原因", send: "提交申请", sent: "已提交售后申请，客服会尽快处理。",
    requests: "售后申请", comments: "备注", comment: "备注", decision: "处理意见", confirm: "确定",
    amountHint: "退款金额（元，留空则退还剩余全部）", statuses: { open: "待处理", approved: "已同意", rejected: "已拒绝" },
  },
  customers: {
    tag: "按标签筛选", tags: "标签", level: "等级", orders: "订单数", spent: "消费（扣除退款）", lastOrder: "最近下单",
    firstOrder: "首次下单", registered: "注册时间", newTag: "新标签（小写字母、数字、- 或 _）", addTag: "添加标签",
    region: "地区", regionFilter: "按地区筛选（如 GD）", regionUnknown: "未知",
  },
  levels: {
    hint: "累计消费达到门槛的客户自动升到该等级；商品的等级价格按等级名称设置。", threshold: "累计消费门槛", add: "添加等级", remove: "删除",
  },
  dashboard: { turnover: "营业额", net: "净收入", turnoverByDay: "近 14 天营业额与净收入", byChannel: "近 14 天各支付渠道营业额", channelSuccess: "近 14 天各支付渠道支付成功率" },
  blacklist: {
    add: "加入黑名单", remove: "移出", value: "值", kinds: { account: "账号", ip: "IP 地址", device: "设备" },
  },
  staff: { list: "员工", disable: "停用", enable: "启用", disabled: "已停用", active: "正常", roleChanged: "角色已更改" },
  finance: {
    ledger: "账本", account: "账户", from: "开始", to: "结束", exportCsv: "导出 CSV", reference: "凭证", reconcile: "对账",
    provider: "渠道", statementHint: "粘贴或选择渠道的日对账单（CSV）", outcome: "结果", days: "账单日期", brokenLines: "无法解析的行",
    theirs: "渠道金额", ours: "本方金额",
    summary: "汇总", groupBy: "分组", groupings: { day: "日期", channel: "渠道", product: "商品" }, total: "合计",
    figures: { revenue: "收入", refunds: "退款", cost: "成本", commissions: "佣金", net: "净额", margin: "毛利", lines_without_cost: "无成本行" },
    outcomes: { matched: "一致", missing_here: "本方缺失", missing_at_provider: "渠道缺失", amount_mismatch: "金额不符" },
  },
  agents: {
    withdrawals: "提现申请", agent: "代理", payTo: "收款账户", payOut: "打款", makeAgent: "设为代理", parent: "上级代理 ID（选填）",
    inviteCode: "邀请码", plan: "佣金方案", planHint: "各级佣金（基点，逗号分隔，最近的上级在前）", save: "保存", saved: "已保存",
    statuses: { requested: "待处理", paid: "已打款", rejected: "已拒绝" },
  },
  agent: {
    title: "代理中心", notAnAgent: "您还不是代理，请联系商家开通。", inviteCode: "我的邀请码", pending: "冻结中", available: "可提现",
    requested: "提现中", withdrawn: "已提现", withdraw: "申请提现", payTo: "收款账户", entries: "收益明细", downline: "我的下级",
    depth: "层级", joined: "加入时间", subAgent: "下级代理", shop: "我的分站", shopName: "店名", shopSlug: "地址（/s/…）",
    shopMarkup: "加价",
    kinds: { commission: "佣金", markup: "加价收益", reversal: "退款扣回", withdrawal: "提现", withdrawal_returned: "提现退回" },
  },
  errors: { generic: "出错了", network: "网络异常，请稍后重试" },
};

const en = {
  brand: "Kameng Shop",
  nav: { shop: "Shop", orders: "My orders", wallet: "Wallet", agent: "Agent", signIn: "Sign in", register: "Sign up", signOut: "Sign out", console: "Console", language: "中文" },
  shop: {
    categories: "Categories", all: "All", stock: "Stock", unlimited: "unlimited", soldOut: "Sold out", quantity: "Quantity", buy: "Buy now",
    empty: "Nothing on sale yet", loading: "Loading…", signInToBuy: "Sign in to buy", joinShop: "Sign up with this shop",
  },
  auth: {
    username: "Username", password: "Password", signIn: "Sign in", register: "Sign up", noAccount: "No account yet?", haveAccount: "Have an account?",
    registered: "Account created: sign in", inviteCode: "Invite code (optional)",
  },
  order: {
    title: "Order", total: "Total", status: "Status", placedAt: "Placed", items: "Items", pay: "Pay", payWith: "Pay with",
    waitingPayment: "Waiting for the payment…", openPayPage: "Open the payment page", scanToPay: "Scan with WeChat or open the link to pay", reveal: "Show card keys",
    cards: "Card keys", number: "Number", secret: "Secret", copy: "Copy", copied: "Copied", history: "Progress", none: "No orders yet",
    more: "Load more", deadline: "Pay before", throughShop: "Bought through the shop",
  },
  methods: { alipay: "Alipay", wechat: "WeChat Pay", unionpay: "UnionPay", balance: "Balance", mockpay: "Mockpay" },
  status: {
    pending: "Processing", awaiting_payment: "Awaiting payment", on_hold: "Under review", paid: "Paid", delivered: "Delivered",
    cancelled: "Cancelled", expired: "Expired", refunded: "Refunded", failed: "Failed",
  },
  admin: {
    title: "Console", dashboard: "Dashboard", products: "Products", orders: "Orders", staff: "Staff", signedInAs: "Signed in as",
    salesByDay: "Sales by day", ordersByStatus: "Orders by status", stock: "Stock", lowStock: "Low stock", topProducts: "Top products",
    name: "Name", category: "Category", kind: "Kind", price: "Price", actions: "Actions", newCategory: "New category", newProduct: "New product",
    importCards: "Import cards", importHint: "One card a line: number, a space, secret; or choose a .txt / .csv file", chooseFile: "Choose a file",
    upload: "Upload", imported: "Imported", duplicates: "Duplicates", rejected: "Rejected", lines: "Lines", create: "Create", cancel: "Cancel",
    customerId: "Customer id", orderId: "Order id", filterStatus: "Filter by status", timeline: "Timeline", role: "Role", createStaff: "New staff account",
    reviews: "Reviews", auditLog: "Audit log", noReviews: "No order waits for review", heldAt: "Held at", score: "Score", reasons: "Reasons",
    decideBy: "Decide by", approve: "Approve", reject: "Reject", reason: "Reason", actor: "Actor", action: "Action", at: "At", target: "Target",
    detail: "Detail", verifyChain: "Verify the chain", chainIntact: "The chain is intact: {checked} entries checked", chainBroken: "The chain is broken at entry {seq}",
    refunds: "Refunds", suppliers: "Suppliers", refund: "Refund", refundTo: "To", to: { original: "The original channel", wallet: "The wallet" },
    lastError: "Last error", newSupplier: "New supplier", synced: "Synced", syncedAt: "Synced at", syncNow: "Sync now",
    created: "Created", noAccess: "Your role may not use this page", levelPrices: "Level prices (JSON)", refresh: "Refresh",
    blacklist: "Blacklist", levels: "Membership levels", finance: "Finance", agents: "Agents & withdrawals", customers: "Customers", refundRequests: "Refund requests", coupons: "Coupons",
    restock: "Restock", low: "Low", threshold: "Threshold", forecast7d: "7-day forecast", daysOfCover: "Days of cover",
    suggested: "Suggested", setThreshold: "Set threshold", save: "Save",
    method: { holt_winters: "Holt-Winters", mean: "mean day", none: "no sales" },
  },
  wallet: {
    balance: "Balance", amount: "Amount", topUp: "Top up", entries: "Entries",
    kinds: { topup: "Top-up", payment: "Payment", refund: "Refund" },
  },
  products: {
    edit: "Edit", details: "Cards & prices", on_sale: "On sale", off_sale: "Off sale", onSale: "On sale", stockLimit: "Loop card sales limit",
    quotedKeep: "Orders already placed keep the price they were quoted.", cards: "Cards", state: "State", imported: "Imported", void: "Void", priceHistory: "Price history",
    states: { available: "Available", reserved: "Reserved", sold: "Sold", refunded: "Refunded", void: "Void" },
  },
  coupons: {
    create: "New coupon", code: "Code", kind: "Kind", value: "Discount", kinds: { amount_off: "Amount off", percent_off: "Percent off" },
    amountOff: "Amount off (yuan)", percentOff: "Percent off (%)", minTotal: "Minimum spend (yuan)", window: "Valid", totalLimit: "Total uses (empty: no limit)",
    perCustomer: "Uses per customer", productIds: "Only these product ids (comma separated, optional)", categoryIds: "Only these category ids (comma separated, optional)",
    public: "Public code", issuedOnly: "Issued only", audience: "Who", used: "Used / total", issue: "Issue", customerIds: "Customer ids (comma or line separated)",
    segment: "Only for a segment (optional: a tag such as high_value, or a region such as region:GD)",
    orTag: "Or everyone with a tag (e.g. dormant)", issued: "Issued to {customers} customers ({fresh} new)",
    code_label: "Coupon", mine: "My coupons", none: "No coupons to use", uses_left: "Uses left", discount: "Discount",
  },
  afterSales: {
    ask: "Ask for a refund", reason: "Why", send: "Send the request", sent: "Your request is in: support will answer it soon.",
    requests: "Refund requests", comments: "Comments", comment: "Comment", decision: "Decision", confirm: "Confirm",
    amountHint: "Amount to refund (yuan; empty: all that is left)", statuses: { open: "Open", approved: "Approved", rejected: "Rejected" },
  },
  customers: {
    tag: "Filter by tag", tags: "Tags", level: "Level", orders: "Orders", spent: "Spent (less refunds)", lastOrder: "Last order",
    firstOrder: "First order", registered: "Registered", newTag: "New tag (lower case, digits, - or _)", addTag: "Add tag",
    region: "Region", regionFilter: "Region (e.g. GD)", regionUnknown: "Unknown",
  },
  levels: {
    hint: "A customer whose lifetime spend reaches a threshold holds that level; products' level prices are keyed by its name.", threshold: "Lifetime spend from", add: "Add a level", remove: "Remove",
  },
  dashboard: { turnover: "Turnover", net: "Net", turnoverByDay: "Turnover and net, last 14 days", byChannel: "Turnover by payment channel, last 14 days", channelSuccess: "Payments completed by channel, last 14 days" },
  blacklist: {
    add: "Blacklist", remove: "Remove", value: "Value", kinds: { account: "Account", ip: "IP address", device: "Device" },
  },
  staff: { list: "Staff", disable: "Disable", enable: "Enable", disabled: "Disabled", active: "Active", roleChanged: "Role changed" },
  finance: {
    ledger: "Ledger", account: "Account", from: "From", to: "To", exportCsv: "Export CSV", reference: "Reference", reconcile: "Reconcile",
    provider: "Provider", statementHint: "Paste or choose the provider's daily statement (CSV)", outcome: "Outcome", days: "Days", brokenLines: "Broken lines",
    theirs: "Provider's amount", ours: "Our amount",
    summary: "Summary", groupBy: "Group by", groupings: { day: "Day", channel: "Channel", product: "Product" }, total: "Total",
    figures: { revenue: "Revenue", refunds: "Refunds", cost: "Cost", commissions: "Commissions", net: "Net", margin: "Margin", lines_without_cost: "Lines without cost" },
    outcomes: { matched: "Matched", missing_here: "Missing here", missing_at_provider: "Missing at the provider", amount_mismatch: "Amount mismatch" },
  },
  agents: {
    withdrawals: "Withdrawal requests", agent: "Agent", payTo: "Pay to", payOut: "Pay out", makeAgent: "Make an agent", parent: "Parent agent id (optional)",
    inviteCode: "Invite code", plan: "Commission plan", planHint: "Rates by level in basis points, comma-separated, closest agent first", save: "Save", saved: "Saved",
    statuses: { requested: "Requested", paid: "Paid", rejected: "Rejected" },
  },
  agent: {
    title: "Agent", notAnAgent: "You are not an agent yet: ask the shop to make you one.", inviteCode: "Your invite code", pending: "On hold", available: "Available",
    requested: "Requested", withdrawn: "Withdrawn", withdraw: "Withdraw", payTo: "Pay to", entries: "Earnings", downline: "Your downline",
    depth: "Depth", joined: "Joined", subAgent: "sub-agent", shop: "My shop", shopName: "Name", shopSlug: "Address (/s/…)",
    shopMarkup: "Markup",
    kinds: { commission: "Commission", markup: "Markup", reversal: "Refund reversal", withdrawal: "Withdrawal", withdrawal_returned: "Withdrawal returned" },
  },
  errors: { generic: "Something went wrong", network: "Network trouble: try again" },
};

const LOCALE_KEY = "kameng.locale";

export const i18n = createI18n({
  legacy: false,
  locale: localStorage.getItem(LOCALE_KEY) || "zh",
  fallbackLocale: "zh",
  messages: { zh, en },
});

export function toggleLocale() {
  const next = i18n.global.locale.value === "zh" ? "en" : "zh";
  i18n.global.locale.value = next;
  localStorage.setItem(LOCALE_KEY, next);
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
}
