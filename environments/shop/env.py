"""An online shop: catalog search, customers and their addresses, carts, checkout, orders, cancellations and refunds.

Domain rules:
- Money is integer cents. Shipping is free from $50.00 of merchandise, otherwise $5.99. Sales tax is collected only
  in the states where the shop has nexus (TAX_RATE_BPS, basis points of the merchandise subtotal, rounded half up);
  shipping is not taxed.
- A customer has at most one open cart. A cart holds at most 10 units of a product, and never more than the stock.
- Stock is reserved at checkout, not when a product is added to a cart, so checkout re-checks every line.
- Orders move placed -> shipped -> delivered; only a placed order can be cancelled (stock and any gift-card payment
  are restored). A delivered order can be refunded, item by item, within 30 days of delivery; refunds go back to the
  original payment method and the order becomes partially_refunded, then refunded once every unit has been returned.
  Shipping is not refunded.

Time is `state.now`; ids are minted from `state.counters`. Nothing here reads the clock or draws random numbers.
"""

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from registry.contract import EnvState, ToolError

RETURN_WINDOW_DAYS = 30
FREE_SHIPPING_THRESHOLD_CENTS = 5000
STANDARD_SHIPPING_CENTS = 599
MAX_QUANTITY_PER_PRODUCT = 10

# States where the shop collects sales tax (state base rate, in basis points); no tax is collected elsewhere.
TAX_RATE_BPS = {"CA": 725, "IL": 625, "NY": 400, "TX": 625, "WA": 650}

US_STATE_CODES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split()
)

OrderStatus = Literal["placed", "shipped", "delivered", "partially_refunded", "refunded", "cancelled"]
PaymentMethod = Literal["card", "gift_card"]
RefundReason = Literal["damaged", "wrong_item", "not_as_described", "no_longer_needed", "other"]
REFUND_REASONS = ("damaged", "wrong_item", "not_as_described", "no_longer_needed", "other")
ORDER_STATUSES = ("placed", "shipped", "delivered", "partially_refunded", "refunded", "cancelled")


# --------------------------------------------------------------------------------------------------- state model


class Category(BaseModel):
    id: str
    name: str
    description: str = ""


class Product(BaseModel):
    id: str
    name: str
    category_id: str
    description: str = ""
    price_cents: int = Field(gt=0)
    stock: int = Field(ge=0)
    discontinued: bool = False


class Customer(BaseModel):
    id: str
    name: str
    email: str
    created_at: str


class Address(BaseModel):
    id: str
    customer_id: str
    name: str = Field(description="Label the customer gave the address, e.g. Home or Office.")
    recipient: str
    line1: str
    line2: str = ""
    city: str
    state: str
    postal_code: str
    country: Literal["US"] = "US"


class GiftCard(BaseModel):
    id: str
    customer_id: str
    name: str
    balance_cents: int = Field(ge=0)


class CartItem(BaseModel):
    product_id: str
    quantity: int = Field(ge=1)


class Cart(BaseModel):
    id: str
    customer_id: str
    status: Literal["open", "checked_out"] = "open"
    items: list[CartItem] = []
    created_at: str
    updated_at: str
    order_id: str | None = None


class OrderItem(BaseModel):
    product_id: str
    name: str
    quantity: int = Field(ge=1)
    unit_price_cents: int = Field(gt=0)
    refunded_quantity: int = Field(default=0, ge=0)


class ShippingAddress(BaseModel):
    """A copy of the address taken at checkout, so later edits never rewrite where an order went."""

    address_id: str
    recipient: str
    line1: str
    line2: str = ""
    city: str
    state: str
    postal_code: str
    country: Literal["US"] = "US"


class Order(BaseModel):
    id: str
    customer_id: str
    cart_id: str
    status: OrderStatus
    items: list[OrderItem]
    subtotal_cents: int
    shipping_cents: int
    tax_rate_bps: int
    tax_cents: int
    total_cents: int
    refunded_cents: int = 0
    payment_method: PaymentMethod
    gift_card_id: str | None = None
    shipping_address: ShippingAddress
    placed_at: str
    shipped_at: str | None = None
    delivered_at: str | None = None
    cancelled_at: str | None = None
    refund_ids: list[str] = []


class RefundItem(BaseModel):
    product_id: str
    quantity: int = Field(ge=1)
    amount_cents: int


class Refund(BaseModel):
    id: str
    order_id: str
    items: list[RefundItem]
    amount_cents: int
    reason: RefundReason
    refunded_to: PaymentMethod
    gift_card_id: str | None = None
    created_at: str


class State(EnvState):
    categories: dict[str, Category] = Field(default_factory=dict, description="Catalog categories by id (cat_NNNN).")
    products: dict[str, Product] = Field(default_factory=dict, description="Products by id (prod_NNNN).")
    customers: dict[str, Customer] = Field(default_factory=dict, description="Customers by id (cus_NNNN).")
    addresses: dict[str, Address] = Field(default_factory=dict, description="Shipping addresses by id (addr_NNNN).")
    gift_cards: dict[str, GiftCard] = Field(default_factory=dict, description="Gift cards by id (gc_NNNN).")
    carts: dict[str, Cart] = Field(default_factory=dict, description="Carts by id (cart_NNNN), open or checked out.")
    orders: dict[str, Order] = Field(default_factory=dict, description="Orders by id (ord_NNNN).")
    refunds: dict[str, Refund] = Field(default_factory=dict, description="Refunds by id (ref_NNNN).")


# --------------------------------------------------------------------------------------------------- helpers


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{frac:02d}"


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tax(amount_cents: int, rate_bps: int) -> int:
    """Tax on an amount, rounded half up to the cent (integer arithmetic only)."""
    return (amount_cents * rate_bps + 5000) // 10000


def _shipping(subtotal_cents: int) -> int:
    return 0 if subtotal_cents >= FREE_SHIPPING_THRESHOLD_CENTS else STANDARD_SHIPPING_CENTS


def _listing(ids: list[str], limit: int = 8) -> str:
    if not ids:
        return "none"
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _page(items: list, limit: int, cursor: str | None, what: str) -> tuple[list, str | None]:
    """One page of `items` (records with an `id`). The cursor is the id of the first record of the page."""
    start = 0
    if cursor is not None:
        ids = [item.id for item in items]
        if cursor not in ids:
            raise ToolError(
                f"Unknown cursor {cursor!r} for this {what} listing; pass the next_cursor of the previous call "
                "with the same filters, or omit cursor to start from the first page"
            )
        start = ids.index(cursor)
    page = items[start:start + limit]
    following = items[start + limit:start + limit + 1]
    return page, (following[0].id if following else None)


def _product(state: State, product_id: str) -> Product:
    product = state.products.get(product_id)
    if product is None:
        raise ToolError(f"No product with id {product_id!r}; use search_products to find product ids")
    return product


def _customer(state: State, customer_id: str) -> Customer:
    customer = state.customers.get(customer_id)
    if customer is None:
        raise ToolError(
            f"No customer with id {customer_id!r}; look the customer up by email with find_customer"
        )
    return customer


def _cart(state: State, cart_id: str) -> Cart:
    cart = state.carts.get(cart_id)
    if cart is None:
        raise ToolError(f"No cart with id {cart_id!r}; create one with create_cart")
    return cart


def _open_cart(state: State, cart_id: str) -> Cart:
    cart = _cart(state, cart_id)
    if cart.status != "open":
        raise ToolError(
            f"Cart {cart_id} was already checked out as order {cart.order_id} and can no longer change; "
            "create a new cart with create_cart"
        )
    return cart


def _order(state: State, order_id: str) -> Order:
    order = state.orders.get(order_id)
    if order is None:
        raise ToolError(f"No order with id {order_id!r}; list a customer's orders with list_orders")
    return order


def _gift_card(state: State, gift_card_id: str) -> GiftCard:
    card = state.gift_cards.get(gift_card_id)
    if card is None:
        raise ToolError(
            f"No gift card with id {gift_card_id!r}; a customer's gift cards are listed by get_customer"
        )
    return card


def _customer_gift_cards(state: State, customer_id: str) -> list[GiftCard]:
    return sorted((g for g in state.gift_cards.values() if g.customer_id == customer_id), key=lambda g: g.id)


def _customer_addresses(state: State, customer_id: str) -> list[Address]:
    return sorted((a for a in state.addresses.values() if a.customer_id == customer_id), key=lambda a: a.id)


def _open_cart_of(state: State, customer_id: str) -> Cart | None:
    for cart in sorted(state.carts.values(), key=lambda c: c.id):
        if cart.customer_id == customer_id and cart.status == "open":
            return cart
    return None


def _return_deadline(order: Order) -> datetime | None:
    if order.delivered_at is None:
        return None
    return _parse_time(order.delivered_at) + timedelta(days=RETURN_WINDOW_DAYS)


# --------------------------------------------------------------------------------------------------- views


def _category_view(state: State, category: Category) -> dict:
    count = sum(1 for p in state.products.values() if p.category_id == category.id and not p.discontinued)
    return {"id": category.id, "name": category.name, "description": category.description, "product_count": count}


def _product_view(state: State, product: Product) -> dict:
    category = state.categories.get(product.category_id)
    return {
        "id": product.id,
        "name": product.name,
        "category_id": product.category_id,
        "category_name": category.name if category else "",
        "description": product.description,
        "price_cents": product.price_cents,
        "stock": product.stock,
        "in_stock": product.stock > 0 and not product.discontinued,
        "discontinued": product.discontinued,
    }


def _address_view(address: Address) -> dict:
    return address.model_dump()


def _gift_card_view(card: GiftCard) -> dict:
    return card.model_dump()


def _customer_view(state: State, customer: Customer) -> dict:
    cart = _open_cart_of(state, customer.id)
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "created_at": customer.created_at,
        "addresses": [_address_view(a) for a in _customer_addresses(state, customer.id)],
        "gift_cards": [_gift_card_view(g) for g in _customer_gift_cards(state, customer.id)],
        "open_cart_id": cart.id if cart else None,
        "order_count": sum(1 for o in state.orders.values() if o.customer_id == customer.id),
    }


def _cart_view(state: State, cart: Cart) -> dict:
    lines = []
    for item in cart.items:
        product = state.products[item.product_id]
        lines.append({
            "product_id": product.id,
            "name": product.name,
            "quantity": item.quantity,
            "unit_price_cents": product.price_cents,
            "line_total_cents": product.price_cents * item.quantity,
            "available_stock": 0 if product.discontinued else product.stock,
        })
    subtotal = sum(line["line_total_cents"] for line in lines)
    customer = state.customers[cart.customer_id]
    return {
        "id": cart.id,
        "name": f"Cart of {customer.name}",
        "customer_id": cart.customer_id,
        "status": cart.status,
        "items": lines,
        "item_count": sum(item.quantity for item in cart.items),
        "subtotal_cents": subtotal,
        "shipping_cents": _shipping(subtotal) if lines else 0,
        "created_at": cart.created_at,
        "updated_at": cart.updated_at,
        "order_id": cart.order_id,
    }


def _order_name(state: State, order: Order) -> str:
    return f"Order {order.id} for {state.customers[order.customer_id].name}"


def _order_view(state: State, order: Order) -> dict:
    deadline = _return_deadline(order)
    return {
        "id": order.id,
        "name": _order_name(state, order),
        "customer_id": order.customer_id,
        "cart_id": order.cart_id,
        "status": order.status,
        "items": [
            {**item.model_dump(), "line_total_cents": item.unit_price_cents * item.quantity} for item in order.items
        ],
        "subtotal_cents": order.subtotal_cents,
        "shipping_cents": order.shipping_cents,
        "tax_cents": order.tax_cents,
        "total_cents": order.total_cents,
        "refunded_cents": order.refunded_cents,
        "payment_method": order.payment_method,
        "gift_card_id": order.gift_card_id,
        "shipping_address": order.shipping_address.model_dump(),
        "placed_at": order.placed_at,
        "shipped_at": order.shipped_at,
        "delivered_at": order.delivered_at,
        "cancelled_at": order.cancelled_at,
        "return_deadline": _iso(deadline) if deadline else None,
        "refunds": [
            {
                "id": r.id,
                "amount_cents": r.amount_cents,
                "reason": r.reason,
                "created_at": r.created_at,
            }
            for r in (state.refunds[rid] for rid in order.refund_ids)
        ],
    }


def _order_summary(state: State, order: Order) -> dict:
    return {
        "id": order.id,
        "name": _order_name(state, order),
        "status": order.status,
        "item_count": sum(item.quantity for item in order.items),
        "total_cents": order.total_cents,
        "refunded_cents": order.refunded_cents,
        "placed_at": order.placed_at,
    }


def _refund_view(state: State, refund: Refund) -> dict:
    return {
        **refund.model_dump(),
        "name": f"Refund {refund.id} on order {refund.order_id}",
    }


# --------------------------------------------------------------------------------------------------- catalog


def list_categories(state: State) -> dict:
    categories = sorted(state.categories.values(), key=lambda c: c.name.casefold())
    return {"categories": [_category_view(state, c) for c in categories]}


def search_products(
    state: State,
    query: str | None = None,
    category_id: str | None = None,
    max_price_cents: int | None = None,
    in_stock_only: bool = False,
    limit: int = 20,
    cursor: str | None = None,
) -> dict:
    if category_id is not None and category_id not in state.categories:
        known = ", ".join(f"{c.id} ({c.name})" for c in sorted(state.categories.values(), key=lambda c: c.id))
        raise ToolError(f"No category with id {category_id!r}; categories: {known or 'none'}")
    terms = query.casefold().split() if query else []
    matches = []
    for product in state.products.values():
        if product.discontinued:
            continue
        if category_id is not None and product.category_id != category_id:
            continue
        if max_price_cents is not None and product.price_cents > max_price_cents:
            continue
        if in_stock_only and product.stock == 0:
            continue
        text = f"{product.name} {product.description}".casefold()
        if any(term not in text for term in terms):
            continue
        matches.append(product)
    matches.sort(key=lambda p: (p.name.casefold(), p.id))
    page, next_cursor = _page(matches, limit, cursor, "product")
    return {
        "products": [_product_view(state, p) for p in page],
        "total": len(matches),
        "next_cursor": next_cursor,
    }


def get_product(state: State, product_id: str) -> dict:
    return {"product": _product_view(state, _product(state, product_id))}


# --------------------------------------------------------------------------------------------------- customers


def find_customer(state: State, email: str) -> dict:
    wanted = email.strip().casefold()
    for customer in sorted(state.customers.values(), key=lambda c: c.id):
        if customer.email.casefold() == wanted:
            return {"customer": _customer_view(state, customer)}
    raise ToolError(f"No customer with email {email!r}; check the spelling with the customer")


def get_customer(state: State, customer_id: str) -> dict:
    return {"customer": _customer_view(state, _customer(state, customer_id))}


def add_address(
    state: State,
    customer_id: str,
    name: str,
    line1: str,
    city: str,
    state_code: str,
    postal_code: str,
    line2: str = "",
    recipient: str | None = None,
) -> dict:
    customer = _customer(state, customer_id)
    if not name.strip():
        raise ToolError("name must not be blank; use a label such as 'Home' or 'Office'")
    if not line1.strip() or not city.strip():
        raise ToolError("line1 and city must not be blank")
    code = state_code.strip().upper()
    if code not in US_STATE_CODES:
        raise ToolError(
            f"{state_code!r} is not a US state code; the shop ships within the United States only "
            "(use a two-letter code such as CA, NY or TX)"
        )
    label = name.strip()
    taken = [a.name for a in _customer_addresses(state, customer.id)]
    if any(label.casefold() == t.casefold() for t in taken):
        raise ToolError(
            f"{customer.name} already has an address named {label!r}; pick another name (existing: {', '.join(taken)})"
        )
    address = Address(
        id=state.mint_id("addr"),
        customer_id=customer.id,
        name=label,
        recipient=(recipient or "").strip() or customer.name,
        line1=line1.strip(),
        line2=line2.strip(),
        city=city.strip(),
        state=code,
        postal_code=postal_code.strip(),
    )
    state.addresses[address.id] = address
    return {"address": _address_view(address)}


def get_gift_card(state: State, gift_card_id: str) -> dict:
    return {"gift_card": _gift_card_view(_gift_card(state, gift_card_id))}


# --------------------------------------------------------------------------------------------------- carts


def create_cart(state: State, customer_id: str) -> dict:
    customer = _customer(state, customer_id)
    existing = _open_cart_of(state, customer.id)
    if existing is not None:
        raise ToolError(
            f"{customer.name} already has an open cart {existing.id}; add products to it or check it out "
            "before creating another"
        )
    cart = Cart(id=state.mint_id("cart"), customer_id=customer.id, created_at=state.now, updated_at=state.now)
    state.carts[cart.id] = cart
    return {"cart": _cart_view(state, cart)}


def get_cart(state: State, cart_id: str) -> dict:
    return {"cart": _cart_view(state, _cart(state, cart_id))}


def add_to_cart(state: State, cart_id: str, product_id: str, quantity: int = 1) -> dict:
    cart = _open_cart(state, cart_id)
    product = _product(state, product_id)
    if quantity < 1:
        raise ToolError("quantity must be at least 1")
    if product.discontinued:
        raise ToolError(f"{product.name} ({product.id}) is discontinued and can no longer be ordered")
    line = next((item for item in cart.items if item.product_id == product.id), None)
    in_cart = line.quantity if line else 0
    wanted = in_cart + quantity
    if wanted > MAX_QUANTITY_PER_PRODUCT:
        raise ToolError(
            f"At most {MAX_QUANTITY_PER_PRODUCT} units of a product per order; the cart already holds {in_cart} "
            f"of {product.name}, so at most {MAX_QUANTITY_PER_PRODUCT - in_cart} more can be added"
        )
    if wanted > product.stock:
        if product.stock == 0:
            raise ToolError(f"{product.name} ({product.id}) is out of stock")
        more = max(product.stock - in_cart, 0)
        raise ToolError(
            f"Only {product.stock} of {product.name} ({product.id}) in stock and the cart already holds {in_cart}; "
            f"at most {more} more can be added"
        )
    if line is None:
        cart.items.append(CartItem(product_id=product.id, quantity=quantity))
    else:
        line.quantity = wanted
    cart.updated_at = state.now
    return {"cart": _cart_view(state, cart)}


def remove_from_cart(state: State, cart_id: str, product_id: str, quantity: int | None = None) -> dict:
    cart = _open_cart(state, cart_id)
    line = next((item for item in cart.items if item.product_id == product_id), None)
    if line is None:
        held = [item.product_id for item in cart.items]
        raise ToolError(f"Product {product_id!r} is not in cart {cart.id}; the cart holds: {_listing(held)}")
    if quantity is None or quantity == line.quantity:
        cart.items.remove(line)
    elif quantity < 1:
        raise ToolError("quantity must be at least 1; omit it to remove the product entirely")
    elif quantity > line.quantity:
        raise ToolError(
            f"Cart {cart.id} holds only {line.quantity} of {product_id}; pass quantity {line.quantity} or omit it "
            "to remove the product entirely"
        )
    else:
        line.quantity -= quantity
    cart.updated_at = state.now
    return {"cart": _cart_view(state, cart)}


# --------------------------------------------------------------------------------------------------- orders


def checkout(
    state: State,
    cart_id: str,
    address_id: str,
    payment_method: str,
    gift_card_id: str | None = None,
) -> dict:
    cart = _open_cart(state, cart_id)
    customer = state.customers[cart.customer_id]
    if not cart.items:
        raise ToolError(f"Cart {cart.id} is empty; add products with add_to_cart before checking out")
    address = state.addresses.get(address_id)
    if address is None or address.customer_id != customer.id:
        own = [f"{a.id} ({a.name})" for a in _customer_addresses(state, customer.id)]
        what = "does not exist" if address is None else "belongs to another customer"
        raise ToolError(
            f"Address {address_id!r} {what}; {customer.name}'s addresses: {_listing(own)}"
            + ("" if own else "; add one with add_address")
        )
    problems = []
    for item in cart.items:
        product = state.products[item.product_id]
        if product.discontinued:
            problems.append(f"{product.name} ({product.id}) is discontinued")
        elif item.quantity > product.stock:
            problems.append(
                f"{product.name} ({product.id}): {item.quantity} in the cart but only {product.stock} in stock"
            )
    if problems:
        raise ToolError(
            f"Cannot check out cart {cart.id}: " + "; ".join(problems) + ". Adjust the cart with remove_from_cart."
        )

    items = [
        OrderItem(
            product_id=item.product_id,
            name=state.products[item.product_id].name,
            quantity=item.quantity,
            unit_price_cents=state.products[item.product_id].price_cents,
        )
        for item in cart.items
    ]
    subtotal = sum(i.unit_price_cents * i.quantity for i in items)
    shipping = _shipping(subtotal)
    rate = TAX_RATE_BPS.get(address.state, 0)
    tax = _tax(subtotal, rate)
    total = subtotal + shipping + tax

    if payment_method == "gift_card":
        if gift_card_id is None:
            cards = [f"{g.id} ({_money(g.balance_cents)})" for g in _customer_gift_cards(state, customer.id)]
            raise ToolError(
                f"payment_method 'gift_card' needs gift_card_id; {customer.name}'s gift cards: {_listing(cards)}"
            )
        card = _gift_card(state, gift_card_id)
        if card.customer_id != customer.id:
            raise ToolError(f"Gift card {card.id} is registered to another customer and cannot pay for this order")
        if card.balance_cents < total:
            raise ToolError(
                f"Gift card {card.id} has a balance of {_money(card.balance_cents)}, less than the order total of "
                f"{_money(total)}; pay with payment_method 'card' instead"
            )
        card.balance_cents -= total
    elif payment_method == "card":
        if gift_card_id is not None:
            raise ToolError("gift_card_id is only used with payment_method 'gift_card'; omit it to pay by card")
    else:
        raise ToolError(f"Unknown payment_method {payment_method!r}; use 'card' or 'gift_card'")

    for item in cart.items:
        state.products[item.product_id].stock -= item.quantity
    order = Order(
        id=state.mint_id("ord"),
        customer_id=customer.id,
        cart_id=cart.id,
        status="placed",
        items=items,
        subtotal_cents=subtotal,
        shipping_cents=shipping,
        tax_rate_bps=rate,
        tax_cents=tax,
        total_cents=total,
        payment_method=payment_method,
        gift_card_id=gift_card_id if payment_method == "gift_card" else None,
        shipping_address=ShippingAddress(
            address_id=address.id,
            **address.model_dump(include={"recipient", "line1", "line2", "city", "state", "postal_code", "country"}),
        ),
        placed_at=state.now,
    )
    state.orders[order.id] = order
    cart.status = "checked_out"
    cart.order_id = order.id
    cart.updated_at = state.now
    return {"order": _order_view(state, order)}


def get_order(state: State, order_id: str) -> dict:
    return {"order": _order_view(state, _order(state, order_id))}


def list_orders(
    state: State,
    customer_id: str,
    status: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> dict:
    customer = _customer(state, customer_id)
    if status is not None and status not in ORDER_STATUSES:
        raise ToolError(f"Unknown status {status!r}; use one of: {', '.join(ORDER_STATUSES)}")
    orders = [
        o for o in state.orders.values()
        if o.customer_id == customer.id and (status is None or o.status == status)
    ]
    orders.sort(key=lambda o: (o.placed_at, o.id), reverse=True)  # newest first
    page, next_cursor = _page(orders, limit, cursor, "order")
    return {"orders": [_order_summary(state, o) for o in page], "next_cursor": next_cursor}


def cancel_order(state: State, order_id: str) -> dict:
    order = _order(state, order_id)
    if order.status == "cancelled":
        raise ToolError(f"Order {order.id} was already cancelled on {order.cancelled_at}")
    if order.status == "shipped":
        raise ToolError(
            f"Order {order.id} shipped on {order.shipped_at} and can no longer be cancelled; once it is delivered, "
            "return the items with request_refund"
        )
    if order.status != "placed":
        raise ToolError(
            f"Order {order.id} is {order.status.replace('_', ' ')} and can no longer be cancelled; "
            "use request_refund for delivered items"
        )
    for item in order.items:
        product = state.products.get(item.product_id)
        if product is not None:
            product.stock += item.quantity
    if order.payment_method == "gift_card" and order.gift_card_id in state.gift_cards:
        state.gift_cards[order.gift_card_id].balance_cents += order.total_cents
    order.status = "cancelled"
    order.cancelled_at = state.now
    return {"order": _order_view(state, order)}


def request_refund(state: State, order_id: str, items: list[dict], reason: str) -> dict:
    order = _order(state, order_id)
    if reason not in REFUND_REASONS:
        raise ToolError(f"Unknown reason {reason!r}; use one of: {', '.join(REFUND_REASONS)}")
    if order.status not in ("delivered", "partially_refunded"):
        hint = {
            "placed": "it has not shipped yet; cancel it with cancel_order instead",
            "shipped": "it is still in transit; refunds open once it is delivered",
            "refunded": "every item has already been refunded",
            "cancelled": "it was cancelled and already paid back",
        }.get(order.status, "")
        raise ToolError(f"Order {order.id} cannot be refunded: {hint}")
    deadline = _return_deadline(order)
    if deadline is not None and _parse_time(state.now) > deadline:
        raise ToolError(
            f"The {RETURN_WINDOW_DAYS}-day return window for order {order.id} closed on {_iso(deadline)} "
            f"(delivered {order.delivered_at}); it can no longer be refunded"
        )

    lines = {item.product_id: item for item in order.items}
    requested: dict[str, int] = {}
    for entry in items:
        product_id, quantity = entry.get("product_id"), entry.get("quantity")
        if not isinstance(product_id, str) or not isinstance(quantity, int) or quantity < 1:
            raise ToolError("Each refund item needs a product_id and a quantity of at least 1")
        if product_id not in lines:
            raise ToolError(
                f"Product {product_id!r} is not part of order {order.id}; its products: {_listing(list(lines))}"
            )
        if product_id in requested:
            raise ToolError(f"Product {product_id} is listed twice; give each product once with the total quantity")
        line = lines[product_id]
        returnable = line.quantity - line.refunded_quantity
        if quantity > returnable:
            raise ToolError(
                f"Order {order.id} has {returnable} refundable unit(s) of {line.name} ({product_id}) "
                f"({line.quantity} bought, {line.refunded_quantity} already refunded); requested {quantity}"
            )
        requested[product_id] = quantity

    refund_items = []
    for product_id, quantity in requested.items():
        line = lines[product_id]
        merchandise = line.unit_price_cents * quantity
        refund_items.append(RefundItem(
            product_id=product_id,
            quantity=quantity,
            amount_cents=merchandise + _tax(merchandise, order.tax_rate_bps),
        ))
        line.refunded_quantity += quantity
    amount = sum(r.amount_cents for r in refund_items)
    fully_returned = all(line.refunded_quantity == line.quantity for line in order.items)
    if fully_returned:
        # The last refund settles the rounding, so the merchandise and tax are paid back to the cent.
        amount = order.subtotal_cents + order.tax_cents - order.refunded_cents
        refund_items[-1].amount_cents = amount - sum(r.amount_cents for r in refund_items[:-1])

    refund = Refund(
        id=state.mint_id("ref"),
        order_id=order.id,
        items=refund_items,
        amount_cents=amount,
        reason=reason,
        refunded_to=order.payment_method,
        gift_card_id=order.gift_card_id,
        created_at=state.now,
    )
    state.refunds[refund.id] = refund
    if order.payment_method == "gift_card" and order.gift_card_id in state.gift_cards:
        state.gift_cards[order.gift_card_id].balance_cents += amount
    order.refunded_cents += amount
    order.refund_ids.append(refund.id)
    order.status = "refunded" if fully_returned else "partially_refunded"
    return {"refund": _refund_view(state, refund), "order": _order_view(state, order)}
