<?xml version="1.0" encoding="UTF-8"?>
<!--
  The browser view of feeder's feeds: turns rss.xml (RSS 2.0) or atom.xml
  (Atom 1.0) into a readable HTML page when a person opens the feed in a
  browser. Feed readers ignore it.

  Safety: everything taken from the feed is written with xsl:value-of or as an
  attribute value, so it is escaped on output; nothing uses
  disable-output-escaping. Links are kept only for http(s) and site-relative
  addresses.

  The stylesheet link of the page is feed.css next to this file: its address
  is read from the feed's own <?xml-stylesheet href="…/feed.xsl"?>.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    exclude-result-prefixes="atom">

  <xsl:output method="html" encoding="UTF-8" indent="yes"
      doctype-system="about:legacy-compat"/>

  <xsl:variable name="upper" select="'ABCDEFGHIJKLMNOPQRSTUVWXYZ'"/>
  <xsl:variable name="lower" select="'abcdefghijklmnopqrstuvwxyz'"/>

  <!-- "/blog/feed.xsl" in the feed's processing instruction gives "/blog/feed.css". -->
  <xsl:variable name="pi"
      select="/processing-instruction('xml-stylesheet')[contains(., 'feed.xsl')][1]"/>
  <xsl:variable name="pi-href">
    <xsl:choose>
      <xsl:when test="contains($pi, 'href=&quot;')">
        <xsl:value-of select="substring-before(substring-after($pi, 'href=&quot;'), '&quot;')"/>
      </xsl:when>
      <xsl:when test="contains($pi, &quot;href='&quot;)">
        <xsl:value-of select="substring-before(substring-after($pi, &quot;href='&quot;), &quot;'&quot;)"/>
      </xsl:when>
    </xsl:choose>
  </xsl:variable>
  <xsl:variable name="css-href">
    <xsl:choose>
      <xsl:when test="contains($pi-href, 'feed.xsl')">
        <xsl:value-of select="concat(substring-before($pi-href, 'feed.xsl'), 'feed.css')"/>
      </xsl:when>
      <xsl:otherwise>feed.css</xsl:otherwise>
    </xsl:choose>
  </xsl:variable>

  <!-- RSS 2.0 ======================================================== -->

  <xsl:template match="/rss">
    <xsl:variable name="channel" select="channel"/>
    <xsl:call-template name="page">
      <xsl:with-param name="format" select="'RSS 2.0'"/>
      <xsl:with-param name="lang" select="normalize-space($channel/language)"/>
      <xsl:with-param name="title" select="normalize-space($channel/title)"/>
      <xsl:with-param name="description" select="$channel/description"/>
      <xsl:with-param name="site" select="normalize-space($channel/link)"/>
      <xsl:with-param name="self"
          select="normalize-space($channel/atom:link[@rel = 'self'][1]/@href)"/>
      <xsl:with-param name="entries" select="$channel/item"/>
    </xsl:call-template>
  </xsl:template>

  <xsl:template match="item">
    <article class="entry">
      <h3 dir="auto">
        <xsl:call-template name="maybe-link">
          <xsl:with-param name="href" select="normalize-space(link)"/>
          <xsl:with-param name="text" select="normalize-space(title)"/>
        </xsl:call-template>
      </h3>
      <xsl:if test="normalize-space(pubDate)">
        <p class="entry-meta">
          <time><xsl:value-of select="normalize-space(pubDate)"/></time>
        </p>
      </xsl:if>
      <xsl:if test="normalize-space(description)">
        <!-- RSS description is HTML: show the text it stands for, never markup. -->
        <p class="entry-summary" dir="auto">
          <xsl:call-template name="html-text">
            <xsl:with-param name="html" select="string(description)"/>
          </xsl:call-template>
        </p>
      </xsl:if>
    </article>
  </xsl:template>

  <!-- Atom 1.0 ======================================================= -->

  <xsl:template match="/atom:feed">
    <xsl:call-template name="page">
      <xsl:with-param name="format" select="'Atom 1.0'"/>
      <xsl:with-param name="lang" select="normalize-space(@xml:lang)"/>
      <xsl:with-param name="title" select="normalize-space(atom:title)"/>
      <xsl:with-param name="description" select="atom:subtitle"/>
      <xsl:with-param name="site"
          select="normalize-space(atom:link[@rel = 'alternate' or not(@rel)][1]/@href)"/>
      <xsl:with-param name="self" select="normalize-space(atom:link[@rel = 'self'][1]/@href)"/>
      <xsl:with-param name="entries" select="atom:entry"/>
    </xsl:call-template>
  </xsl:template>

  <xsl:template match="atom:entry">
    <xsl:variable name="date" select="normalize-space((atom:published | atom:updated)[1])"/>
    <xsl:variable name="title">
      <xsl:choose>
        <xsl:when test="atom:title/@type = 'html'">
          <xsl:call-template name="html-text">
            <xsl:with-param name="html" select="string(atom:title)"/>
          </xsl:call-template>
        </xsl:when>
        <xsl:otherwise><xsl:value-of select="normalize-space(atom:title)"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <article class="entry">
      <h3 dir="auto">
        <xsl:call-template name="maybe-link">
          <xsl:with-param name="href"
              select="normalize-space(atom:link[@rel = 'alternate' or not(@rel)][1]/@href)"/>
          <xsl:with-param name="text" select="string($title)"/>
        </xsl:call-template>
      </h3>
      <xsl:if test="$date">
        <p class="entry-meta">
          <time datetime="{$date}">
            <xsl:call-template name="iso-date">
              <xsl:with-param name="value" select="$date"/>
            </xsl:call-template>
          </time>
        </p>
      </xsl:if>
      <xsl:if test="normalize-space(atom:summary)">
        <p class="entry-summary" dir="auto">
          <xsl:choose>
            <xsl:when test="atom:summary/@type = 'html'">
              <xsl:call-template name="html-text">
                <xsl:with-param name="html" select="string(atom:summary)"/>
              </xsl:call-template>
            </xsl:when>
            <xsl:otherwise>
              <xsl:value-of select="normalize-space(atom:summary)"/>
            </xsl:otherwise>
          </xsl:choose>
        </p>
      </xsl:if>
    </article>
  </xsl:template>

  <!-- Anything else: not a feed this stylesheet knows. -->
  <xsl:template match="/*" priority="-1">
    <html lang="en">
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>Not a feed</title>
        <link rel="stylesheet" href="{$css-href}"/>
      </head>
      <body class="feed-page">
        <main><p>This document is not an RSS 2.0 or Atom 1.0 feed.</p></main>
      </body>
    </html>
  </xsl:template>

  <!-- The page ======================================================= -->

  <xsl:template name="page">
    <xsl:param name="format"/>
    <xsl:param name="lang"/>
    <xsl:param name="title"/>
    <xsl:param name="description"/>
    <xsl:param name="site"/>
    <xsl:param name="self"/>
    <xsl:param name="entries"/>
    <html>
      <xsl:if test="$lang">
        <xsl:attribute name="lang"><xsl:value-of select="$lang"/></xsl:attribute>
      </xsl:if>
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="robots" content="noindex"/>
        <title><xsl:value-of select="$title"/> · web feed</title>
        <link rel="stylesheet" href="{$css-href}"/>
      </head>
      <body class="feed-page">
        <aside class="feed-about" lang="en" dir="ltr">
          <p class="feed-badge">Web feed · <xsl:value-of select="$format"/></p>
          <p>
            <strong>This is a web feed</strong>, also known as an RSS or Atom feed.
            Copy this page's address into your feed reader to subscribe: new entries
            then come to you, with no account and nothing to install on this site.
          </p>
          <xsl:if test="$self">
            <p class="feed-subscribe">
              <span class="feed-subscribe-label">Feed address</span>
              <code class="feed-url" dir="ltr"><xsl:value-of select="$self"/></code>
            </p>
          </xsl:if>
          <p class="feed-help">
            New to feeds? <a href="https://aboutfeeds.com/">About Feeds</a> explains
            what they are and how to start.
          </p>
        </aside>
        <header class="feed-header">
          <h1 dir="auto"><xsl:value-of select="$title"/></h1>
          <xsl:if test="normalize-space($description) and normalize-space($description) != $title">
            <p class="feed-description" dir="auto">
              <xsl:value-of select="normalize-space($description)"/>
            </p>
          </xsl:if>
          <xsl:if test="$site">
            <p class="feed-site">
              <xsl:call-template name="maybe-link">
                <xsl:with-param name="href" select="$site"/>
                <xsl:with-param name="text" select="'Visit the website'"/>
              </xsl:call-template>
            </p>
          </xsl:if>
        </header>
        <main class="feed-entries">
          <h2>Latest entries</h2>
          <xsl:choose>
            <xsl:when test="$entries">
              <xsl:apply-templates select="$entries"/>
            </xsl:when>
            <xsl:otherwise>
              <p class="feed-empty">Nothing published yet.</p>
            </xsl:otherwise>
          </xsl:choose>
        </main>
      </body>
    </html>
  </xsl:template>

  <!-- Helpers ======================================================== -->

  <!-- A link for http(s) and site-relative addresses; plain text for anything else
       (any other scheme in a feed, a script or data address say, must not become clickable). -->
  <xsl:template name="maybe-link">
    <xsl:param name="href"/>
    <xsl:param name="text"/>
    <xsl:variable name="scheme" select="translate(substring-before($href, ':'), $upper, $lower)"/>
    <xsl:variable name="label">
      <xsl:choose>
        <xsl:when test="$text"><xsl:value-of select="$text"/></xsl:when>
        <xsl:otherwise>(untitled)</xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:choose>
      <xsl:when test="$scheme = 'http' or $scheme = 'https'
                      or (starts-with($href, '/') and not(starts-with($href, '//'))
                          and not(contains($href, ':')))">
        <a href="{$href}"><xsl:value-of select="$label"/></a>
      </xsl:when>
      <xsl:otherwise>
        <xsl:value-of select="$label"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- 2026-11-26T12:00:00.123+00:00 as "2026-11-26 12:00 UTC". -->
  <xsl:template name="iso-date">
    <xsl:param name="value"/>
    <xsl:choose>
      <xsl:when test="string-length($value) &gt;= 16 and substring($value, 11, 1) = 'T'">
        <xsl:value-of select="concat(substring($value, 1, 10), ' ', substring($value, 12, 5))"/>
        <xsl:variable name="zone" select="substring($value, string-length($value) - 5)"/>
        <xsl:choose>
          <xsl:when test="substring($value, string-length($value)) = 'Z' or $zone = '+00:00'">
            <xsl:text> UTC</xsl:text>
          </xsl:when>
          <xsl:when test="substring($zone, 4, 1) = ':'">
            <xsl:value-of select="concat(' ', $zone)"/>
          </xsl:when>
        </xsl:choose>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$value"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- The text an HTML fragment shows (RSS description, Atom type="html"): tags are
       dropped (block-level ones leave a space), then &lt; &gt; &amp; &quot; &#39;
       &nbsp; become their characters. The result is written as text, so it is
       escaped again on output: the markup is never interpreted. -->
  <xsl:template name="html-text">
    <xsl:param name="html"/>
    <xsl:variable name="untagged">
      <xsl:call-template name="strip-tags">
        <xsl:with-param name="text" select="$html"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:call-template name="decode-entities">
      <xsl:with-param name="text" select="normalize-space($untagged)"/>
    </xsl:call-template>
  </xsl:template>

  <xsl:template name="strip-tags">
    <xsl:param name="text"/>
    <xsl:variable name="after" select="substring-after($text, '&lt;')"/>
    <xsl:choose>
      <xsl:when test="contains($text, '&lt;') and contains($after, '&gt;')">
        <xsl:value-of select="substring-before($text, '&lt;')"/>
        <xsl:variable name="tag" select="substring-before($after, '&gt;')"/>
        <xsl:variable name="name" select="translate(substring-before(
            concat(translate(normalize-space(translate($tag, '/', ' ')), ' ', '~'), '~'), '~'),
            $upper, $lower)"/>
        <xsl:if test="contains(' p br div li ul ol dl dt dd tr td th h1 h2 h3 h4 h5 h6 blockquote pre hr figure figcaption table section article ',
                               concat(' ', $name, ' '))">
          <xsl:text> </xsl:text>
        </xsl:if>
        <xsl:call-template name="strip-tags">
          <xsl:with-param name="text" select="substring-after($after, '&gt;')"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise>
        <xsl:value-of select="$text"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template name="decode-entities">
    <xsl:param name="text"/>
    <xsl:choose>
      <xsl:when test="contains($text, '&amp;')">
        <xsl:value-of select="substring-before($text, '&amp;')"/>
        <xsl:variable name="rest" select="substring-after($text, '&amp;')"/>
        <xsl:variable name="entity" select="substring-before($rest, ';')"/>
        <xsl:variable name="char">
          <xsl:choose>
            <xsl:when test="$entity = 'lt'">&lt;</xsl:when>
            <xsl:when test="$entity = 'gt'">&gt;</xsl:when>
            <xsl:when test="$entity = 'amp'">&amp;</xsl:when>
            <xsl:when test="$entity = 'quot' or $entity = '#34' or $entity = '#x22'">"</xsl:when>
            <xsl:when test="$entity = 'apos' or $entity = '#39' or $entity = '#x27'">'</xsl:when>
            <xsl:when test="$entity = 'nbsp' or $entity = '#160' or $entity = '#xa0'">&#160;</xsl:when>
          </xsl:choose>
        </xsl:variable>
        <xsl:choose>
          <xsl:when test="string($char)">
            <xsl:value-of select="$char"/>
            <xsl:call-template name="decode-entities">
              <xsl:with-param name="text" select="substring-after($rest, ';')"/>
            </xsl:call-template>
          </xsl:when>
          <xsl:otherwise>
            <xsl:text>&amp;</xsl:text>
            <xsl:call-template name="decode-entities">
              <xsl:with-param name="text" select="$rest"/>
            </xsl:call-template>
          </xsl:otherwise>
        </xsl:choose>
      </xsl:when>
      <xsl:otherwise>
        <xsl:value-of select="$text"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

</xsl:stylesheet>
